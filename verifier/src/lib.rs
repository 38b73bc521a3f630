//! The resource-server side of Tessera: JWKS-caching verifier and middleware (being built).
