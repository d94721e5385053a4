//! What the pipeline learns of a request as it goes ([`Entry`]), and the audit record it
//! makes once the request is answered. Each field is filled at the step that knows it, so a
//! request refused early still records what was known by then: the claimed AccessKeyId of a
//! signature that did not verify, the action of a request that was never signed.

use std::net::IpAddr;
use std::sync::OnceLock;

use bpops_iam::Principal;
use bpops_protocol::Params;
use bpops_store::{AccountId, AuditRecord};
use bpops_time::Timestamp;

use super::redact::{self, bounded};

/// The longest action name, AccessKeyId or id kept; longer ones are cut.
const MAX_NAME_CHARS: usize = 128;

/// What a request reached, as the route found it: filled by the route (through the
/// request's context) while the request is served.
#[derive(Default)]
pub(crate) struct Target {
    /// The ARN the request was authorized against.
    resource: OnceLock<String>,
    /// The operation a submit or a step created.
    operation: OnceLock<String>,
}

impl Target {
    /// Notes the ARN the request is authorized against (the first one, when there are more).
    pub(crate) fn authorized_against(&self, resource: &str) {
        let _ = self.resource.set(resource.to_owned());
    }

    /// Notes the operation the request created.
    pub(crate) fn created(&self, operation: &str) {
        let _ = self.operation.set(operation.to_owned());
    }
}

/// A request's audit record in the making.
#[derive(Default)]
pub(crate) struct Entry {
    action: Option<String>,
    access_key_id: Option<String>,
    /// The account of the claimed key, once the key is found.
    account: Option<String>,
    /// Who signed, once the signature verified.
    principal: Option<Principal>,
    parameters: Option<String>,
    application: Option<String>,
    operation: Option<String>,
    pub(crate) target: Target,
}

impl Entry {
    /// Notes the parameters, as the trail keeps them, and what they name: the action (or the
    /// `x-acs-action` header's) and the key, as the request names them until its signature
    /// is read; the application and the operation.
    pub(crate) fn parameters(&mut self, params: &Params, action_header: Option<&str>) {
        self.parameters = Some(redact::parameters(params));
        let named = |name| params.get(name).map(|v| bounded(v, MAX_NAME_CHARS));
        self.action = named("Action").or_else(|| action_header.map(|v| bounded(v, MAX_NAME_CHARS)));
        self.access_key_id = named("AccessKeyId");
        // N.B. GetApplicationVariables and ReConfigApplication name it `AppId`.
        self.application = named("ApplicationId").or_else(|| named("AppId"));
        self.operation = named("OperationId");
    }

    /// Notes the action of a request that names none in its parameters (the console's
    /// sign-in and sign-out).
    pub(crate) fn named(&mut self, action: &str) {
        self.action = Some(bounded(action, MAX_NAME_CHARS));
    }

    /// Notes what the request claims: its action and the AccessKeyId it says signed it.
    pub(crate) fn claimed(&mut self, action: Option<&str>, access_key_id: &str) {
        if let Some(action) = action {
            self.action = Some(bounded(action, MAX_NAME_CHARS));
        }
        self.access_key_id = Some(bounded(access_key_id, MAX_NAME_CHARS));
    }

    /// Notes that the claimed key exists, in `account`.
    pub(crate) fn key_found(&mut self, account: &str) {
        self.account = Some(account.to_owned());
    }

    /// The account of the claimed key, once the key is found.
    pub(crate) fn account(&self) -> Option<&str> {
        self.account.as_deref()
    }

    /// For a request refused before its key was looked up (unsigned, malformed), the account
    /// of the key it names, from `account_of`: the attempt shows in that account's trail.
    pub(crate) fn find_account(&mut self, account_of: impl FnOnce(&str) -> Option<String>) {
        if self.account.is_none()
            && let Some(key) = &self.access_key_id
        {
            self.account = account_of(key);
        }
    }

    /// Notes that the signature verified: `principal` signed the request.
    pub(crate) fn verified(&mut self, principal: &Principal) {
        self.principal = Some(principal.clone());
    }

    /// The record of the request, answered `code` with `http_status`.
    pub(crate) fn into_record(
        self,
        time: Timestamp,
        request_id: String,
        peer: IpAddr,
        code: &str,
        http_status: u16,
    ) -> AuditRecord {
        let user = self.principal.as_ref().map(|p| match p {
            Principal::Root { .. } => "root".to_owned(),
            Principal::User { name, .. } => name.clone(),
        });
        AuditRecord {
            time,
            request_id,
            account: self.account.map(AccountId::new),
            verified: user.is_some(),
            user,
            access_key_id: self.access_key_id,
            source_ip: peer.to_string(),
            action: self.action.unwrap_or_default(),
            code: code.to_owned(),
            http_status,
            application: self.application,
            operation_id: self.target.operation.into_inner().or(self.operation),
            resource: self.target.resource.into_inner(),
            parameters: self.parameters.unwrap_or_else(|| "{}".to_owned()),
        }
    }
}
