//! The application family: templates, applications and their lifecycle steps. Requests are
//! the protocol's own typed requests (what the server reads is what the client writes, so
//! the two cannot drift apart), sent as the SDKs send them: every parameter in the form
//! body, maps as JSON text. Replies are the protocol's `Data` types; a listing comes back as
//! a [`Page`].

use bpops_protocol::Action;
use bpops_protocol::applications::{
    ApplicationDetail, ApplicationItem, ApplicationRequest, CreateApplicationRequest,
    GetTemplateRequest, ListApplicationRequest, ListTemplateRequest, PageRequest, TemplateDetail,
    TemplateItem,
};
use serde::de::{DeserializeOwned, IgnoredAny};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::{Client, Error, Result, required};

/// One page of a listing by page number (ListTemplate, ListApplication), shaped as the
/// envelope carries it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Page<T> {
    /// `Data`: the page's items.
    pub data: Vec<T>,
    /// `TotalCount`: how many items match, on every page.
    pub total_count: u64,
    /// `NextToken`: the next page's number; `None` on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<u32>,
}

impl Client {
    /// ListTemplate: a page of the templates.
    pub async fn list_templates(
        &self,
        request: &ListTemplateRequest,
    ) -> Result<Page<TemplateItem>> {
        let mut params = Params::default();
        params.optional("Keyword", request.keyword.as_deref());
        params.optional("ResourceGroupId", request.resource_group_id.as_deref());
        params.page(request.page);
        self.page(Action::ListTemplate, &params).await
    }

    /// GetTemplate: one template with its variables.
    pub async fn get_template(&self, request: &GetTemplateRequest) -> Result<TemplateDetail> {
        let mut params = Params::default();
        params.optional("TemplateId", Some(&request.template_id));
        params.optional("ResourceGroupId", request.resource_group_id.as_deref());
        self.data(Action::GetTemplate, &params).await
    }

    /// CreateApplication: the new application's id.
    pub async fn create_application(&self, request: &CreateApplicationRequest) -> Result<String> {
        let mut params = Params::default();
        params.optional("Name", Some(&request.name));
        params.optional("TemplateId", Some(&request.template_id));
        params.optional("ResourceGroupId", request.resource_group_id.as_deref());
        params.optional("AreaId", request.area_id.as_deref());
        params.object("Variables", &request.variables);
        params.object("Configuration", &request.configuration);
        params.optional("ClientToken", request.client_token.as_deref());
        self.data(Action::CreateApplication, &params).await
    }

    /// GetApplication: the application with its resources, checklist and prices.
    pub async fn get_application(&self, request: &ApplicationRequest) -> Result<ApplicationDetail> {
        self.data(Action::GetApplication, &application_params(request))
            .await
    }

    /// ListApplication: a page of the caller's applications.
    pub async fn list_applications(
        &self,
        request: &ListApplicationRequest,
    ) -> Result<Page<ApplicationItem>> {
        let mut params = Params::default();
        params.optional("Keyword", request.keyword.as_deref());
        params.optional("Status", request.status.as_deref());
        params.optional("TemplateId", request.template_id.as_deref());
        params.optional("ResourceId", request.resource_id.as_deref());
        params.optional("ResourceGroupId", request.resource_group_id.as_deref());
        params.optional(
            "OrderType",
            Some(if request.by_creation { "2" } else { "1" }),
        );
        params.page(request.page);
        self.page(Action::ListApplication, &params).await
    }

    /// DeleteApplication of an application that holds no resources.
    pub async fn delete_application(&self, request: &ApplicationRequest) -> Result {
        let params = application_params(request);
        self.call::<IgnoredAny>(Action::DeleteApplication.as_str(), &params.pairs())
            .await?;
        Ok(())
    }

    /// Starts a lifecycle step, `step` being `ValidateApplication`, `ValuateApplication`,
    /// `DeployApplication` or `ReleaseApplication`; the step runs on the server, and
    /// GetApplication shows where it is.
    ///
    /// N.B. what `Data` holds differs by step (the step's operation id, or `1`), and tells
    /// nothing GetApplication does not, so it is not read.
    pub async fn start_step(&self, step: Action, request: &ApplicationRequest) -> Result {
        let params = application_params(request);
        self.call::<IgnoredAny>(step.as_str(), &params.pairs())
            .await?;
        Ok(())
    }

    /// Calls `action` and returns its `Data`.
    async fn data<T: DeserializeOwned>(&self, action: Action, params: &Params) -> Result<T> {
        required(self.call(action.as_str(), &params.pairs()).await?)
    }

    /// Calls a listing `action` and returns its page.
    async fn page<T: DeserializeOwned>(&self, action: Action, params: &Params) -> Result<Page<T>> {
        let envelope = self
            .call::<Vec<T>>(action.as_str(), &params.pairs())
            .await?;
        let total_count = envelope.total_count.ok_or_else(|| {
            Error::Unexpected(format!(
                "the answer to {} has no TotalCount (RequestId {})",
                action.as_str(),
                envelope.request_id
            ))
        })?;
        let next_token = envelope.next_token;
        Ok(Page {
            data: required(envelope)?,
            total_count,
            next_token,
        })
    }
}

/// `ApplicationId` and, when set, `ResourceGroupId` and `ClientToken`.
fn application_params(request: &ApplicationRequest) -> Params {
    let mut params = Params::default();
    params.optional("ApplicationId", Some(&request.application_id));
    params.optional("ResourceGroupId", request.resource_group_id.as_deref());
    params.optional("ClientToken", request.client_token.as_deref());
    params
}

/// A request's parameters, owned, as the typed request gives them: absent ones left out.
#[derive(Default)]
struct Params(Vec<(&'static str, String)>);

impl Params {
    fn optional(&mut self, name: &'static str, value: Option<&str>) {
        if let Some(value) = value {
            self.0.push((name, value.to_owned()));
        }
    }

    /// A map as JSON text; left out when empty, which the server reads alike.
    fn object(&mut self, name: &'static str, map: &Map<String, Value>) {
        if !map.is_empty() {
            self.0.push((name, Value::Object(map.clone()).to_string()));
        }
    }

    fn page(&mut self, page: PageRequest) {
        self.0.push(("NextToken", page.number.to_string()));
        self.0.push(("MaxResults", page.size.to_string()));
    }

    fn pairs(&self) -> Vec<(&str, &str)> {
        self.0
            .iter()
            .map(|(name, value)| (*name, value.as_str()))
            .collect()
    }
}
