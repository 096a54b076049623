//! The account page: who the user is, what they hold, which applications they authorized and
//! how they sign in, read as one.

use heliogate_store::{Consent, Store, StoredPasskey, User};

use crate::admin::UserView;
use crate::mfa::{self, FactorStatus};
use crate::Result;

/// What the account page shows its user.
#[derive(Debug)]
pub struct Overview {
    /// Name, e-mail address, roles and the scopes they hold.
    pub view: UserView,
    /// The applications the user authorized.
    pub applications: Vec<Consent>,
    pub factors: FactorStatus,
    /// The user's passkeys; `None` when passkeys cannot be used here (no domain name).
    pub passkeys: Option<Vec<StoredPasskey>>,
    /// The identities at upstream providers that sign the user in.
    pub identities: Vec<crate::upstream::IdentityView>,
}

/// The account page of `user`, who is signed in; `with_passkeys` when passkeys can be used.
pub async fn overview(store: &dyn Store, user: &User, with_passkeys: bool) -> Result<Overview> {
    let view = crate::admin::users::view_user(store, user.clone()).await?;
    let applications = store.consents(&user.id, crate::now()).await?;
    let factors = mfa::status(store, &user.id).await?;
    let passkeys = if with_passkeys {
        Some(store.passkeys(&user.id).await?)
    } else {
        None
    };
    let identities = crate::upstream::list_identities(store, &user.id).await?;
    Ok(Overview {
        view,
        applications,
        factors,
        passkeys,
        identities,
    })
}
