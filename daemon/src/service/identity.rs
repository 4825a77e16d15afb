//! Who a person signing in through an OpenID provider is here: the user already linked to their
//! provider account, an existing account with the same e-mail (linked only when the provider
//! vouches for the address), or a new account made just in time, only for the e-mail domains and
//! tenants the deployment allows. Decided here, in the service layer, so that the creation and
//! the link are validated and audited as any other account change; the HTTP side
//! (`http::auth::oidc`) only checks the provider's tokens and hands over the claims.

use crate::domain::{AuditAction, AuditObject};
use crate::store::{Store, UserId};

use super::{Actor, ServiceError, ServiceResult, audit};

/// What a provider said about the person, after its ID token was checked.
#[derive(Clone, PartialEq, Eq)]
pub struct ProviderIdentity {
    /// The provider's name in the configuration (`[[auth.oidc]] name`).
    pub provider: String,
    /// `sub`: stable per provider.
    pub subject: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub name: Option<String>,
    /// The tenant (`tid` or the configured claim), when the provider sends one.
    pub tenant: Option<String>,
}

impl std::fmt::Debug for ProviderIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderIdentity")
            .field("provider", &self.provider)
            .finish_non_exhaustive()
    }
}

/// Who may come in through one provider.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AdmissionPolicy {
    /// E-mail domains (lower case) for which an account is created at the first sign-in.
    pub allowed_domains: Vec<String>,
    /// Tenants allowed to sign in at all; empty: any tenant.
    pub allowed_tenants: Vec<String>,
    /// Take the provider's `email` as verified even without `email_verified` (for providers
    /// that never send the claim but only issue addresses of their own tenant).
    pub trust_email: bool,
}

/// Why a provider's person was not let in; each says what to do in words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The ID token had no e-mail address.
    NoEmail,
    /// The provider did not say the address is verified, and no account is linked yet.
    EmailNotVerified,
    /// No account for this address and its domain is not one accounts are created for.
    DomainNotAllowed,
    /// The person's tenant is not one this deployment allows.
    TenantNotAllowed,
}

impl Refusal {
    /// The word kept in the audit log and the log line.
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::NoEmail => "no_email",
            Refusal::EmailNotVerified => "email_not_verified",
            Refusal::DomainNotAllowed => "domain_not_allowed",
            Refusal::TenantNotAllowed => "tenant_not_allowed",
        }
    }

    /// What the person reads on the sign-in page.
    pub fn message(self) -> &'static str {
        match self {
            Refusal::NoEmail => {
                "Your identity provider did not share your e-mail address, so mailsig cannot tell who you are. Ask your administrator to allow the e-mail scope."
            }
            Refusal::EmailNotVerified => {
                "Your identity provider has not verified your e-mail address, so it cannot be used to sign in to an existing account. Verify it there, or ask your administrator."
            }
            Refusal::DomainNotAllowed => {
                "There is no mailsig account for this e-mail address, and accounts are not created for its domain. Ask your administrator to invite you."
            }
            Refusal::TenantNotAllowed => {
                "Your organisation's directory is not one this mailsig accepts. Sign in with your work account, or ask your administrator."
            }
        }
    }
}

/// The outcome of [`admit`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// Signed in as this user; `created` when the account was made just now.
    User {
        user: UserId,
        created: bool,
    },
    Refused(Refusal),
}

/// The domain of an address, lower case.
fn domain_of(email: &str) -> Option<String> {
    email
        .rsplit_once('@')
        .map(|(_, d)| d.trim().to_lowercase())
        .filter(|d| !d.is_empty())
}

/// Finds or makes the user `identity` signs in as, following `policy` (see the module docs).
/// A refusal is audited with its word (never the address); a creation and a link are audited
/// with the provider's name, the new user as actor.
pub async fn admit(
    store: &Store,
    identity: &ProviderIdentity,
    policy: &AdmissionPolicy,
) -> ServiceResult<Admission> {
    if !policy.allowed_tenants.is_empty()
        && !identity
            .tenant
            .as_ref()
            .is_some_and(|t| policy.allowed_tenants.iter().any(|a| a == t))
    {
        return refused(store, None, Refusal::TenantNotAllowed).await;
    }
    if let Some(user) = store
        .oidc_identity_user(&identity.provider, &identity.subject)
        .await?
    {
        return Ok(Admission::User {
            user,
            created: false,
        });
    }
    let Some(email) = identity
        .email
        .as_deref()
        .map(str::trim)
        .filter(|e| !e.is_empty())
    else {
        return refused(store, None, Refusal::NoEmail).await;
    };
    let verified = identity.email_verified || policy.trust_email;
    match store.user_by_email(email).await {
        Ok(existing) => {
            if !verified {
                return refused(store, Some(existing.id), Refusal::EmailNotVerified).await;
            }
            link(store, identity, existing.id).await?;
            Ok(Admission::User {
                user: existing.id,
                created: false,
            })
        }
        Err(e) if e.is_not_found() => {
            let allowed = domain_of(email).is_some_and(|d| policy.allowed_domains.contains(&d));
            if !allowed {
                return refused(store, None, Refusal::DomainNotAllowed).await;
            }
            if !verified {
                return refused(store, None, Refusal::EmailNotVerified).await;
            }
            let user = create(store, identity, email).await?;
            link(store, identity, user).await?;
            Ok(Admission::User {
                user,
                created: true,
            })
        }
        Err(e) => Err(e.into()),
    }
}

async fn refused(
    store: &Store,
    user: Option<UserId>,
    refusal: Refusal,
) -> ServiceResult<Admission> {
    store
        .record_audit(
            None,
            AuditAction::SessionProviderRefused,
            AuditObject::User,
            user.map(|u| u.0),
            Some(refusal.as_str()),
        )
        .await?;
    Ok(Admission::Refused(refusal))
}

/// A new account for `email`, validated as `users::add` validates one.
async fn create(store: &Store, identity: &ProviderIdentity, email: &str) -> ServiceResult<UserId> {
    let mut c = super::validate::Checker::new();
    let email = c.email("email", Some(email));
    let name = identity
        .name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(|n| {
            n.chars()
                .take(super::users::MAX_NAME_CHARS)
                .collect::<String>()
        });
    c.finish()?;
    let email = email.ok_or(ServiceError::NotFound { what: "email" })?;
    let user = store.create_user(&email, name.as_deref()).await?;
    audit(
        store,
        Actor::signed_in(user.id),
        AuditAction::UserCreate,
        AuditObject::User,
        Some(user.id.0),
        Some(&format!("oidc:{}", identity.provider)),
    )
    .await?;
    Ok(user.id)
}

async fn link(store: &Store, identity: &ProviderIdentity, user: UserId) -> ServiceResult<()> {
    store
        .link_oidc_identity(&identity.provider, &identity.subject, user)
        .await?;
    // An invited account signed in through its provider: the invitation link is not needed.
    store.close_account_invitations(user).await?;
    audit(
        store,
        Actor::signed_in(user),
        AuditAction::UserLinkIdentity,
        AuditObject::User,
        Some(user.0),
        Some(&identity.provider),
    )
    .await
}

/// Applies the provider's word on the org admin role at each sign-in through it: `Some(true)`
/// (the configured `admin_claim` holds one of `admin_values`) makes the user an org admin,
/// `Some(false)` (the claim is missing or holds none of them) takes the role away, so the
/// provider's groups stay the one source of the role for its users. `None` (no mapping
/// configured for the provider) leaves the role as the operator or an admin set it. A change
/// is audited as `user.set_role` with no user as the actor.
pub async fn apply_admin_claim(
    store: &Store,
    user: UserId,
    is_admin: Option<bool>,
) -> ServiceResult<()> {
    let Some(is_admin) = is_admin else {
        return Ok(());
    };
    let role = if is_admin {
        crate::domain::OrgRole::Admin
    } else {
        crate::domain::OrgRole::User
    };
    super::users::apply_org_role_from_sign_in(store, user, role).await?;
    Ok(())
}
