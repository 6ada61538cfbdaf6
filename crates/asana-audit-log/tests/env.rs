//! `Client::from_env`. One test, because it changes the process environment.

use asana_audit_log::config::TOKEN_ENV;
use asana_audit_log::{Client, Error};

#[test]
fn token_from_the_environment() {
    // SAFETY: this test binary has a single test, so no other thread reads the environment.
    unsafe { std::env::remove_var(TOKEN_ENV) };
    let err = Client::from_env().unwrap_err();
    assert!(matches!(err, Error::MissingToken));
    assert!(err.to_string().contains("ASANA_ACCESS_TOKEN"), "{err}");

    unsafe { std::env::set_var(TOKEN_ENV, "  ") };
    assert!(matches!(Client::from_env(), Err(Error::MissingToken)));

    unsafe { std::env::set_var(TOKEN_ENV, "0/1:from-env\n") };
    let client = Client::from_env().unwrap();
    assert!(!format!("{client:?}").contains("from-env"));
    unsafe { std::env::remove_var(TOKEN_ENV) };
}
