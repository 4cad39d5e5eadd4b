//! The service's MODEL_URI and `model-creation publish --to` resolve S3 settings in one place
//! (`object_storage`): given the same variables they reach the same endpoint, region, keys and
//! addressing, AWS_ENDPOINT_URL_S3 included.

use std::collections::HashMap;

use model_serving::config::{Config, ModelSource};
use object_storage::AwsEnv;

fn resolve_both(vars: &[(&str, &str)], url: &str) -> (object_storage::S3Options, object_storage::S3Options) {
    let mut map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    map.insert("MODEL_URI".into(), url.into());
    let config = Config::from_vars(&map).expect("valid configuration");
    let ModelSource::S3(serving) = config.model() else { panic!("MODEL_URI gives an S3 model source") };
    let env = AwsEnv::from_lookup(|name| map.get(name).cloned());
    let publish = model_creation::publish::destination(url, &env).expect("valid destination");
    (*serving, publish)
}

#[test]
fn serving_and_publish_resolve_the_same_settings_from_the_same_variables() {
    let cases: [&[(&str, &str)]; 3] = [
        &[
            ("AWS_ENDPOINT_URL_S3", "http://minio-s3:9000"),
            ("AWS_ENDPOINT_URL", "http://generic:9000"),
            ("AWS_REGION", "eu-central-2"),
            ("AWS_ACCESS_KEY_ID", "minio"),
            ("AWS_SECRET_ACCESS_KEY", "minio123"),
        ],
        &[("AWS_ENDPOINT_URL", "http://generic:9000"), ("AWS_DEFAULT_REGION", "us-west-1")],
        &[("AWS_ACCESS_KEY_ID", "a"), ("AWS_SECRET_ACCESS_KEY", "b"), ("AWS_SESSION_TOKEN", "t")],
    ];
    for vars in cases {
        let (serving, publish) = resolve_both(vars, "s3://models/models/ae/1/");
        assert_eq!(serving, publish, "{vars:?}");
    }
    let (serving, _) = resolve_both(cases[0], "s3://models/models/ae/1/");
    assert_eq!(serving.endpoint_url.as_deref(), Some("http://minio-s3:9000"), "AWS_ENDPOINT_URL_S3 wins");
    assert_eq!((serving.bucket.as_str(), serving.prefix.as_str()), ("models", "models/ae/1"));
    assert_eq!(serving.region, "eu-central-2");
    assert!(!serving.virtual_hosted);
}

#[test]
fn both_refuse_the_same_bucket_names() {
    let mut map = HashMap::new();
    map.insert("MODEL_URI".to_string(), "s3://My_Models/ae/".to_string());
    let err = Config::from_vars(&map).expect_err("invalid bucket").to_string();
    assert!(err.starts_with("MODEL_URI=") && err.contains("s3://bucket/prefix/"), "{err}");
    model_creation::publish::destination("s3://My_Models/ae/", &AwsEnv::default()).expect_err("invalid bucket");
}
