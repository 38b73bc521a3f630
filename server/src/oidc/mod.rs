//! The OpenID Connect provider: browser sign-in for applications (authorization code flow
//! with PKCE), the login and consent pages, UserInfo, RP-initiated and back-channel logout,
//! and CORS for browser applications. The token endpoint's `authorization_code` grant is in
//! [`crate::oauth`]; ID tokens are signed by [`crate::tokens`].

pub(crate) mod authorize;
pub(crate) mod backchannel;
pub(crate) mod browser;
pub(crate) mod codes;
pub(crate) mod cors;
pub(crate) mod logout;
pub(crate) mod pages;
pub(crate) mod userinfo;
