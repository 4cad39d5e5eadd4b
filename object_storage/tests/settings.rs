//! One resolution of S3 settings for every caller: the order (explicit settings over
//! AWS_ENDPOINT_URL_S3 over AWS_ENDPOINT_URL), the bucket-name rule, errors that name the
//! setting, and secrets kept out of Debug output.

use object_storage::{AwsEnv, DEFAULT_REGION, S3Options, S3Settings, StorageError};

fn env(pairs: &[(&str, &str)]) -> AwsEnv {
    AwsEnv::from_lookup(|name| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string()))
}

#[test]
fn explicit_settings_win_over_the_s3_endpoint_variable_which_wins_over_the_generic_one() {
    let vars = env(&[
        ("AWS_ENDPOINT_URL", "http://generic:9000"),
        ("AWS_ENDPOINT_URL_S3", "http://s3-only:9000"),
        ("AWS_REGION", "eu-central-2"),
        ("AWS_DEFAULT_REGION", "us-west-1"),
        ("AWS_ACCESS_KEY_ID", "env-key"),
        ("AWS_SECRET_ACCESS_KEY", "env-secret"),
    ]);
    let from_env = S3Options::resolve("s3://models/ae/1/", &S3Settings::default(), &vars).unwrap();
    assert_eq!(from_env.bucket, "models");
    assert_eq!(from_env.prefix, "ae/1");
    assert_eq!(from_env.endpoint_url.as_deref(), Some("http://s3-only:9000"));
    assert_eq!(from_env.region, "eu-central-2");
    assert_eq!(from_env.access_key_id.as_deref(), Some("env-key"));
    assert_eq!(from_env.secret_access_key.as_deref(), Some("env-secret"));
    assert!(!from_env.virtual_hosted, "path style, as MinIO needs");

    let generic_only = env(&[("AWS_ENDPOINT_URL", "http://generic:9000"), ("AWS_DEFAULT_REGION", "us-west-1")]);
    let o = S3Options::resolve("s3://models", &S3Settings::default(), &generic_only).unwrap();
    assert_eq!(o.endpoint_url.as_deref(), Some("http://generic:9000"));
    assert_eq!(o.region, "us-west-1");

    let remote = S3Settings {
        endpoint_url: Some("http://remote:9000".into()),
        region: Some("remote-region".into()),
        access_key_id: Some("remote-key".into()),
        secret_access_key: Some("remote-secret".into()),
        session_token: None,
    };
    let o = S3Options::resolve("s3://models", &remote, &vars).unwrap();
    assert_eq!(o.endpoint_url.as_deref(), Some("http://remote:9000"));
    assert_eq!(o.region, "remote-region");
    assert_eq!(
        (o.access_key_id.as_deref(), o.secret_access_key.as_deref()),
        (Some("remote-key"), Some("remote-secret"))
    );
}

#[test]
fn keys_come_as_a_pair_from_one_place_and_the_region_defaults() {
    let vars =
        env(&[("AWS_ACCESS_KEY_ID", "env-key"), ("AWS_SECRET_ACCESS_KEY", "env-secret"), ("AWS_SESSION_TOKEN", "t")]);
    let half = S3Settings { access_key_id: Some("remote-key".into()), ..S3Settings::default() };
    let o = S3Options::resolve("s3://bucket", &half, &vars).unwrap();
    assert_eq!(o.access_key_id.as_deref(), Some("remote-key"));
    assert_eq!(o.secret_access_key, None, "never the environment's secret with another key");
    assert_eq!(o.session_token, None);
    assert_eq!(o.region, DEFAULT_REGION);
    let o = S3Options::resolve("s3://bucket", &S3Settings::default(), &vars).unwrap();
    assert_eq!(o.session_token.as_deref(), Some("t"));
    let blank = env(&[("AWS_ENDPOINT_URL", "  "), ("AWS_REGION", "")]);
    let o = S3Options::resolve("s3://bucket", &S3Settings::default(), &blank).unwrap();
    assert_eq!((o.endpoint_url, o.region.as_str()), (None, DEFAULT_REGION), "empty variables count as unset");
}

#[test]
fn urls_and_bucket_names_follow_s3_rules() {
    for good in ["s3://abc", "s3://my-bucket.v2/a/b", "s3://123/x/"] {
        S3Options::resolve(good, &S3Settings::default(), &AwsEnv::default()).unwrap_or_else(|e| panic!("{good}: {e}"));
    }
    for bad in ["s3://", "s3://ab/x", "s3://Models/x", "s3://my_bucket", "s3://-bucket", "http://bucket/x", "bucket/x"]
    {
        let err = S3Options::resolve(bad, &S3Settings::default(), &AwsEnv::default()).unwrap_err();
        assert!(matches!(err, StorageError::InvalidUrl { .. }), "{bad}: {err:?}");
        assert!(err.to_string().contains("3 to 63 lowercase letters"), "{bad}: {err}");
    }
}

#[test]
fn a_bad_endpoint_is_named_by_where_it_came_from() {
    let err = S3Options::resolve("s3://bucket", &S3Settings::default(), &env(&[("AWS_ENDPOINT_URL_S3", "minio:9000")]))
        .unwrap_err();
    assert_eq!(err.to_string(), "AWS_ENDPOINT_URL_S3=\"minio:9000\": expected an absolute http:// or https:// URL");
    let remote = S3Settings { endpoint_url: Some("ftp://x".into()), ..S3Settings::default() };
    let err = S3Options::resolve("s3://bucket", &remote, &AwsEnv::default()).unwrap_err();
    assert!(err.to_string().starts_with("endpointurl=\"ftp://x\""), "{err}");
}

#[test]
fn debug_output_never_shows_secrets() {
    let vars = env(&[
        ("AWS_ACCESS_KEY_ID", "visible-key"),
        ("AWS_SECRET_ACCESS_KEY", "s3cr3t"),
        ("AWS_SESSION_TOKEN", "t0k3n"),
    ]);
    let o = S3Options::resolve("s3://bucket", &S3Settings::default(), &vars).unwrap();
    let settings = S3Settings { secret_access_key: Some("s3cr3t".into()), ..S3Settings::default() };
    for shown in [format!("{o:?}"), format!("{vars:?}"), format!("{settings:?}")] {
        assert!(!shown.contains("s3cr3t") && !shown.contains("t0k3n"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
    }
    assert!(format!("{o:?}").contains("visible-key"), "the key id is not a secret");
}
