//! Lifecycle steps of applications as operations of the engine: started in their
//! application's status, run once, taken over after a lost lease (a deploy creating no
//! resource twice), with injected failures, and reserved.

use std::time::Duration;

use bpops_engine::{ApplicationRequest, Emulation, EngineError, STEP_SERVICE, Settings, Step};
use bpops_store::{AccountId, ApplicationStatus, Effect, Progress, Resource, Status};
use serde_json::{Map, json};
use tokio_util::sync::CancellationToken;

use super::{Backend, Fixture, fixture, leased, object, queued, submission};

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

    /// A web tier validated and valuated, ready to deploy.
    async fn valuated(&self, name: &str) -> String {
        let app = self.web_tier(name).await;
        for step in [Step::Validate, Step::Valuate] {
            self.step(&app, step).await.unwrap();
            assert_eq!(self.engine.run_once().await.unwrap(), 1);
        }
        assert_eq!(
            self.app_status(&app).await,
            ApplicationStatus::ValuatingSuccess
        );
        app
    }

    async fn resources(&self, app: &str) -> Vec<Resource> {
        self.store
            .application_resources(&AccountId::new(super::ACCOUNT), app)
            .await
            .unwrap()
    }

    async fn step(&self, app: &str, step: Step) -> bpops_engine::Result<bpops_store::OperationId> {
        self.engine
            .start_step(AccountId::new(super::ACCOUNT), app, step, None, None)
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

pub(crate) async fn a_deploy_resumed_by_a_new_attempt_creates_no_resource_twice(backend: Backend) {
    let mut settings = Settings {
        shutdown_grace: Duration::from_millis(50),
        ..leased()
    };
    settings.emulation.insert(
        (STEP_SERVICE.into(), Step::Deploy.operation().into()),
        Emulation {
            latency: Duration::from_millis(300),
            failure_rate: 0.0,
        },
    );
    let f = fixture(backend, settings).await;
    let app = f.valuated("web").await;
    let shutdown = CancellationToken::new();
    let tasks = f.engine.start(shutdown.clone());
    let id = f.step(&app, Step::Deploy).await.unwrap();
    // The node stops once the first resource is created: the attempt is interrupted
    // midway, and its lease released.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while f.resources(&app).await.is_empty() {
        assert!(std::time::Instant::now() < deadline, "nothing deployed");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    shutdown.cancel();
    tasks.join_all().await;
    let before = f.resources(&app).await;
    assert!((1..3).contains(&before.len()), "{before:?}");
    assert_eq!(f.app_status(&app).await, ApplicationStatus::Deploying);

    // A new attempt takes over and finishes the deploy.
    assert_eq!(f.engine.run_once().await.unwrap(), 1);
    let deployed = f.resources(&app).await;
    let ids: Vec<&str> = deployed.iter().map(|r| r.key.id.as_str()).collect();
    assert_eq!(ids.len(), 3, "{ids:?}");
    assert!(
        before.iter().all(|r| deployed.contains(r)),
        "kept as created"
    );
    assert_eq!(ids.iter().filter(|id| id.starts_with("i-")).count(), 2);
    assert_eq!(ids.iter().filter(|id| id.starts_with("lb-")).count(), 1);
    let op = f.get(&id).await.unwrap();
    assert_eq!((op.status, op.attempt), (Status::Success, 2));
    let done = f
        .engine
        .application(&AccountId::new(super::ACCOUNT), &app)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (done.status, done.deploy_percent),
        (ApplicationStatus::DeployedSuccess, 100.0)
    );

    // A late write of the interrupted attempt changes nothing.
    let late = Progress {
        effect: Effect::Create {
            resource: Resource {
                properties: object(json!({"instance_name": "late"})),
                ..deployed[0].clone()
            },
        },
        application: app.clone(),
        deploy_percent: 10.0,
    };
    assert!(!f.store.progress(&id, 1, &late).await.unwrap());
    assert_eq!(f.resources(&app).await, deployed);
}

pub(crate) async fn a_release_deletes_what_a_deploy_created(backend: Backend) {
    let f = fixture(backend, queued()).await;
    let app = f.valuated("web").await;
    f.step(&app, Step::Deploy).await.unwrap();
    assert_eq!(f.engine.run_once().await.unwrap(), 1);
    let instance = f
        .resources(&app)
        .await
        .into_iter()
        .find(|r| r.key.service == "ecs")
        .unwrap();
    assert_eq!(instance.properties["instance_type"], "ecs.g7.large");
    assert_eq!(instance.properties["region_id"], "cn-hangzhou");

    let release = f.step(&app, Step::Release).await.unwrap();
    assert_eq!(f.app_status(&app).await, ApplicationStatus::Destroying);
    assert_eq!(f.engine.run_once().await.unwrap(), 1);
    assert_eq!(f.status(&release).await, Status::Success);
    assert_eq!(
        f.app_status(&app).await,
        ApplicationStatus::DestroyedSuccess
    );
    assert!(f.resources(&app).await.is_empty());
    let mut rename = submission(
        "rename",
        json!({"instanceId": instance.key.id, "instance_name": "gone"}),
    );
    rename.application = Some(app.clone());
    let renamed = f.engine.submit(rename).await.unwrap();
    f.engine.run_once().await.unwrap();
    let op = f.get(&renamed).await.unwrap();
    assert_eq!(op.status, Status::Failure);
    assert!(op.message.starts_with("InstanceNotFound"), "{}", op.message);
}

pub(crate) async fn an_injected_failure_of_every_resource_deploys_nothing(backend: Backend) {
    let mut settings = queued();
    settings.emulation.insert(
        (STEP_SERVICE.into(), Step::Deploy.operation().into()),
        Emulation {
            latency: Duration::ZERO,
            failure_rate: 1.0,
        },
    );
    let f = fixture(backend, settings).await;
    let app = f.valuated("web").await;
    let id = f.step(&app, Step::Deploy).await.unwrap();
    assert_eq!(f.engine.run_once().await.unwrap(), 1);
    assert_eq!(f.status(&id).await, Status::Failure);
    assert_eq!(f.app_status(&app).await, ApplicationStatus::DeployedFailure);
    assert!(f.resources(&app).await.is_empty());
    // A failed deploy may be retried, or released.
    f.step(&app, Step::Release).await.unwrap();
    assert_eq!(f.engine.run_once().await.unwrap(), 1);
    assert_eq!(
        f.app_status(&app).await,
        ApplicationStatus::DestroyedSuccess
    );
}

/// With half the resources failing, a deploy and each release that follows end in the status
/// that what they did calls for: every outcome of the step table, checked against the
/// inventory each time, until the application holds nothing.
pub(crate) async fn resources_failing_one_by_one_leave_deploys_and_releases_partial(
    backend: Backend,
) {
    use ApplicationStatus::{
        DeployedFailure, DeployedSuccess, DestroyedFailure, DestroyedSuccess,
        PartiallyDeployedSuccess, PartiallyDestroyedSuccess,
    };
    let mut settings = queued();
    for step in [Step::Deploy, Step::Release] {
        settings.emulation.insert(
            (STEP_SERVICE.into(), step.operation().into()),
            Emulation {
                latency: Duration::ZERO,
                failure_rate: 0.5,
            },
        );
    }
    let f = fixture(backend, settings).await;
    let wanted = [
        PartiallyDeployedSuccess,
        DeployedFailure,
        PartiallyDestroyedSuccess,
        DestroyedFailure,
    ];
    let mut seen = Vec::new();
    // Each outcome has a chance of at least 1/8 per step: 40 deployments all but never miss one.
    for n in 0..40 {
        let app = f.valuated(&format!("web-{n}")).await;
        f.step(&app, Step::Deploy).await.unwrap();
        assert_eq!(f.engine.run_once().await.unwrap(), 1);
        let mut held = f.resources(&app).await.len();
        let deployed = f.app_status(&app).await;
        let expected = match held {
            3 => DeployedSuccess,
            0 => DeployedFailure,
            _ => PartiallyDeployedSuccess,
        };
        assert_eq!(deployed, expected, "{held} of 3 created");
        seen.push(deployed);
        while held > 0 {
            f.step(&app, Step::Release).await.unwrap();
            assert_eq!(f.engine.run_once().await.unwrap(), 1);
            let left = f.resources(&app).await.len();
            let released = f.app_status(&app).await;
            let expected = match (held - left, left) {
                (_, 0) => DestroyedSuccess,
                (0, _) => DestroyedFailure,
                _ => PartiallyDestroyedSuccess,
            };
            assert_eq!(released, expected, "{left} of {held} left");
            seen.push(released);
            held = left;
        }
        if wanted.iter().all(|status| seen.contains(status)) {
            return;
        }
    }
    panic!("not every outcome in 40 deployments: {seen:?}");
}
