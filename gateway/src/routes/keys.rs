//! `POST /v1/keys`, `GET /v1/keys`, `DELETE /v1/keys/{id}`: access keys. A new key's secret is
//! in the create answer and nowhere else afterwards: it is stored sealed and never listed.

use crate::auth::keys::new_credentials;
use crate::auth::Auth;
use crate::body::read_json;
use crate::errors::{error_response, AwsError};
use crate::http::{empty, json, ReqBody, Resp};
use hyper::{Request, StatusCode};
use serde_json::json;
use skiff_api::access_key::{AccessKey, CreateKeyBody};
use skiff_api::now_ms;
use skiff_state::config::Expect;

const MAX_BODY: usize = 64 * 1024;

pub(crate) async fn create(auth: &Auth, req: Request<ReqBody>) -> Resp {
    match try_create(auth, req).await {
        Ok(resp) | Err(resp) => resp,
    }
}

async fn try_create(auth: &Auth, req: Request<ReqBody>) -> Result<Resp, Resp> {
    if auth.token.is_none() {
        return Err(AwsError::InvalidParameterValue.response("access keys need a server started with --token: without one, every request is allowed"));
    }
    let body: CreateKeyBody = read_json(req, MAX_BODY, "access key request").await?;
    let (name, policy) = body.parse().map_err(|e| AwsError::InvalidParameterValue.response(e.to_string()))?;
    let (id, secret) = new_credentials();
    let key = AccessKey { id: id.clone(), name, policy, sealed_secret: auth.sealer.seal(&secret), created_at_ms: now_ms() };
    auth.store.put(&id, &key, Expect::Absent).await.map_err(|e| error_response(&e))?;
    auth.keys.insert(key.clone());
    let mut shown = metadata(&key);
    shown["SecretAccessKey"] = secret.into();
    Ok(json(StatusCode::CREATED, &json!({ "AccessKey": shown })))
}

pub(crate) fn list(auth: &Auth) -> Resp {
    let keys: Vec<_> = auth.keys.all().iter().map(metadata).collect();
    json(StatusCode::OK, &json!({ "AccessKeyMetadata": keys }))
}

pub(crate) async fn delete(auth: &Auth, id: &str) -> Resp {
    match auth.store.get(id).await {
        Ok(Some(stored)) => match auth.store.delete(id, Expect::At(stored.revision)).await {
            Ok(_) => {
                auth.keys.remove(id);
                empty(StatusCode::NO_CONTENT)
            }
            Err(e) => error_response(&e),
        },
        Ok(None) => AwsError::ResourceNotFound.response(format!("no access key {id}")),
        Err(e) => error_response(&e),
    }
}

/// IAM's `AccessKeyMetadata`, with the key's policy: never the secret.
fn metadata(key: &AccessKey) -> serde_json::Value {
    json!({
        "UserName": key.name,
        "AccessKeyId": key.id,
        "Status": "Active",
        "CreateDate": skiff_api::lambda::configuration::lambda_timestamp(key.created_at_ms),
        "Policy": key.policy,
    })
}
