//! The one form for a client, shared by users' own applications and the administrators'
//! clients.

use askama::Template;
use heliogate_app::admin::ClientView;

use super::{field_of, Chrome, Fields};

/// The form for a client, as first shown or sent back with what was refused: a user's own
/// application (name, type, redirect URIs, grant types, their scopes), or for administrators
/// any client, new or to change (with its owner and powers too).
#[derive(Template)]
#[template(path = "client_form.html")]
pub(super) struct ClientForm {
    instance: String,
    chrome: Chrome,
    /// Where the form posts.
    action: &'static str,
    /// The administrators' form: owner and powers are shown.
    admin: bool,
    /// The client changed; `None` for a new one.
    editing: Option<ClientView>,
    /// The scopes the client may be given, with what each allows.
    offered: Vec<(String, String)>,
    name: String,
    public: bool,
    owner: String,
    redirect_uris: String,
    grant_types: Vec<String>,
    scopes: Vec<String>,
    introspect: bool,
    trusted: bool,
    pkce_optional: bool,
    require_par: bool,
    require_dpop: bool,
    backchannel_logout_uri: String,
    error: Option<String>,
    error_field: Option<&'static str>,
}

impl ClientForm {
    fn has_grant(&self, grant: &str) -> bool {
        self.grant_types.iter().any(|g| g == grant)
    }

    fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }

    fn error_on(&self, field: &str) -> bool {
        self.error.is_some() && self.error_field == Some(field)
    }

    /// The form as a client shows it (a new one: `None`).
    pub fn of(
        chrome: Chrome,
        offered: Vec<(String, String)>,
        client: Option<ClientView>,
        action: &'static str,
        admin: bool,
    ) -> Self {
        let shown = client.clone().unwrap_or_else(|| ClientView {
            client_id: String::new(),
            name: String::new(),
            owner: None,
            client_type: "confidential",
            redirect_uris: Vec::new(),
            grant_types: vec!["authorization_code".into(), "refresh_token".into()],
            scopes: Vec::new(),
            introspect: false,
            trusted: false,
            pkce_optional: false,
            post_logout_redirect_uris: Vec::new(),
            signing_alg: "RS256",
            access_token_format: "opaque",
            resources: Vec::new(),
            require_par: false,
            require_dpop: false,
            backchannel_logout_uri: None,
            disabled: false,
            managed_by: None,
            created_at: 0,
            updated_at: 0,
        });
        Self {
            instance: chrome.instance.clone(),
            chrome,
            action,
            admin,
            offered,
            name: shown.name,
            public: shown.client_type == "public",
            owner: shown.owner.unwrap_or_default(),
            redirect_uris: shown.redirect_uris.join("\n"),
            grant_types: shown.grant_types,
            scopes: shown.scopes,
            introspect: shown.introspect,
            trusted: shown.trusted,
            pkce_optional: shown.pkce_optional,
            require_par: shown.require_par,
            require_dpop: shown.require_dpop,
            backchannel_logout_uri: shown.backchannel_logout_uri.unwrap_or_default(),
            editing: client,
            error: None,
            error_field: None,
        }
    }

    /// The form as sent back with what was refused.
    pub fn refused(mut self, fields: &Fields, message: String) -> Self {
        self.name = fields.get("name").to_owned();
        self.public = fields.get("client_type") == "public";
        self.owner = fields.get("owner").to_owned();
        self.redirect_uris = fields.get("redirect_uris").to_owned();
        self.grant_types = fields.all("grant_type");
        self.scopes = fields.all("scope");
        self.introspect = fields.get("introspect") == "1";
        self.trusted = fields.get("trusted") == "1";
        self.pkce_optional = fields.get("pkce_optional") == "1";
        self.require_par = fields.get("require_par") == "1";
        self.require_dpop = fields.get("require_dpop") == "1";
        self.backchannel_logout_uri = fields.get("backchannel_logout_uri").to_owned();
        self.error_field = field_of(
            &message,
            &[
                ("backchannel_logout_uri", "logout uri"),
                ("redirect_uris", "redirect"),
                ("grant_types", "grant"),
                ("scopes", "scope"),
                ("owner", "user"),
                ("name", "name"),
            ],
        );
        self.error = Some(message);
        self
    }
}
