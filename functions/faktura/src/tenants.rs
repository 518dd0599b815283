//! Tenants for local mode: a TOML file (see `tenants.example.toml`, parsed by
//! [`faktura_http::tenants`]) or the built-in demo.

pub use faktura_http::tenants::{TenantConfig as LocalTenant, load, parse};

/// The built-in tenants: `demo` (a GmbH charging VAT) and `kleinunternehmer` (§19 UStG).
pub const DEMO_TENANTS: &str = include_str!("../demo-tenants.toml");

pub const DEMO_TENANT: &str = "demo";
pub const DEMO_SECRET: &str = "whsec_ZmFrdHVyYS1kZW1vLXdlYmhvb2stc2VjcmV0LTAwMDE=";
pub const DEMO_API_KEY: &str = "demo-api-key";

pub fn demo() -> Vec<LocalTenant> {
    parse(DEMO_TENANTS, "demo-tenants.toml").expect("the built-in demo tenants are valid")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_and_example_files_parse() {
        let demo = demo();
        assert_eq!(demo[0].record.tenant.id.as_str(), DEMO_TENANT);
        assert_eq!(
            demo[0].record.webhook_secrets,
            vec![DEMO_SECRET.to_string()]
        );
        assert_eq!(demo[0].api_keys, vec![DEMO_API_KEY.to_string()]);
        assert!(demo.iter().any(|t| t.record.tenant.settings.small_business));
        parse(include_str!("../tenants.example.toml"), "example").unwrap();
    }

    #[test]
    fn bad_files_are_refused_with_a_reason() {
        let broken = DEMO_TENANTS.replacen(DEMO_SECRET, "whsec_c2hvcnQ=", 1);
        assert!(parse(&broken, "x").unwrap_err().contains("24 bytes"));
        let typo = DEMO_TENANTS.replacen("small_business", "smal_business", 1);
        assert!(parse(&typo, "x").is_err());
    }
}
