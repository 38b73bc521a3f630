//! Marks the PostgreSQL process tests to run when `TESSERA_TEST_POSTGRES_URL` is set at build
//! time, and to be reported as ignored (not as passed) when it is not.

fn main() {
    println!("cargo:rustc-check-cfg=cfg(postgres_tests)");
    println!("cargo:rerun-if-env-changed=TESSERA_TEST_POSTGRES_URL");
    if std::env::var_os("TESSERA_TEST_POSTGRES_URL").is_some() {
        println!("cargo:rustc-cfg=postgres_tests");
    }
}
