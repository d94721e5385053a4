//! Lifecycle steps of applications as operations of the engine: started in their
//! application's status, run once, taken over after a lost lease, and reserved.

use std::time::Duration;

use bpops_engine::{ApplicationRequest, EngineError, STEP_SERVICE, Step};
use bpops_store::{AccountId, ApplicationStatus, Status};
use serde_json::{Map, json};

use super::{Backend, Fixture, fixture, leased, queued, submission};

impl Fixture {
    /// A new application of the web tier in `cn-hangzhou`.
    async fn web_tier(&self, name: &str) -> String {
        self.engine
            .create_application(ApplicationRequest {
                account: AccountId::new(super::ACCOUNT),
                name: name.into(),
                template_id: "web-tier".into(),
                resource_group: None,
                area_id: Some("cn-hangzhou".into()),
                variables: Map::new(),
                configuration: Map::new(),
                client_token: None,
            })
            .await
            .unwrap()
    }

    async fn app_status(&self, id: &str) -> ApplicationStatus {
        self.engine
            .application(&AccountId::new(super::ACCOUNT), id)
            .await
            .unwrap()
            .unwrap()
            .status
    }

    async fn step(&self, app: &str, step: Step) -> bpops_engine::Result<bpops_store::OperationId> {
        self.engine
            .start_step(AccountId::new(super::ACCOUNT), app, step, None)
            .await
    }
}

pub(crate) async fn a_step_runs_once_as_an_operation_and_moves_its_application(backend: Backend) {
    let f = fixture(backend, queued()).await;
    let app = f.web_tier("web").await;
    let validate = f.step(&app, Step::Validate).await.unwrap();
    assert_eq!(f.app_status(&app).await, ApplicationStatus::Verifying);
    assert!(matches!(
        f.step(&app, Step::Valuate).await,
        Err(EngineError::IncorrectApplicationStatus(
            ApplicationStatus::Verifying
        ))
    ));
    assert_eq!(f.engine.run_once().await.unwrap(), 1);
    assert_eq!(f.status(&validate).await, Status::Success);
    assert_eq!(f.app_status(&app).await, ApplicationStatus::VerifiedSuccess);

    let valuate = f.step(&app, Step::Valuate).await.unwrap();
    assert_eq!(f.engine.run_once().await.unwrap(), 1);
    assert_eq!(f.status(&valuate).await, Status::Success);
    let priced = f
        .engine
        .application(&AccountId::new(super::ACCOUNT), &app)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(priced.status, ApplicationStatus::ValuatingSuccess);
    assert_eq!(priced.price_list.len(), 3);
    assert_eq!(priced.checklist.len(), 3, "validation's checklist stays");
    let op = f.get(&valuate).await.unwrap();
    assert_eq!(
        (op.service.as_str(), op.application.as_deref()),
        (STEP_SERVICE, Some(app.as_str()))
    );
}

pub(crate) async fn a_step_whose_worker_died_is_taken_over_and_ends_once(backend: Backend) {
    let f = fixture(backend, leased()).await;
    let app = f.web_tier("web").await;
    let id = f.step(&app, Step::Validate).await.unwrap();
    assert_eq!(f.claim_and_die().await, 1);
    assert_eq!(f.engine.run_once().await.unwrap(), 0, "the lease holds");
    assert_eq!(f.app_status(&app).await, ApplicationStatus::Verifying);
    f.clock.advance(Duration::from_secs(31));
    assert_eq!(f.engine.run_once().await.unwrap(), 1);
    let op = f.get(&id).await.unwrap();
    assert_eq!((op.status, op.attempt), (Status::Success, 2));
    assert_eq!(f.app_status(&app).await, ApplicationStatus::VerifiedSuccess);
}

pub(crate) async fn steps_cannot_be_submitted_as_operations(backend: Backend) {
    let f = fixture(backend, queued()).await;
    let mut by_hand = submission("validateApplication", json!({}));
    by_hand.service = STEP_SERVICE.into();
    assert!(matches!(
        f.engine.submit(by_hand).await,
        Err(EngineError::ReservedService(_))
    ));
}
