//! The naming rules, once each: what a function, service, environment variable, image or
//! user-owned queue may be called.

use crate::error::Invalid;

/// Functions and services: `[A-Za-z0-9_-]{1,64}` (Lambda's rule; also part of container names).
pub fn check_function_name(name: &str) -> Result<(), Invalid> {
    check_resource_name("function", name)
}

pub fn check_service_name(name: &str) -> Result<(), Invalid> {
    check_resource_name("service", name)
}

fn check_resource_name(what: &str, name: &str) -> Result<(), Invalid> {
    let ok = (1..=64).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(Invalid(format!("invalid {what} name {name:?}: must match [A-Za-z0-9_-]{{1,64}}")))
    }
}

/// Variables the platform sets itself (Lambda's reserved list): a function cannot override them.
const RESERVED_ENV: &[&str] = &[
    "_HANDLER",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_EXECUTION_ENV",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "LAMBDA_TASK_ROOT",
    "LAMBDA_RUNTIME_DIR",
];

/// A function's environment variable: `[A-Za-z][A-Za-z0-9_]*`, not one of the platform's
/// `AWS_LAMBDA_*` nor another reserved one.
pub fn check_env_key(key: &str) -> Result<(), Invalid> {
    let mut bytes = key.bytes();
    let well_formed = bytes.next().is_some_and(|b| b.is_ascii_alphabetic()) && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !well_formed {
        return Err(Invalid(format!("invalid environment variable name {key:?}: must match [A-Za-z][A-Za-z0-9_]*")));
    }
    if key.starts_with("AWS_LAMBDA_") || RESERVED_ENV.contains(&key) {
        return Err(Invalid(format!(
            "environment variable {key} is reserved: AWS_LAMBDA_* variables and the runtime's own (AWS_REGION, LAMBDA_TASK_ROOT, ...) are set by the platform"
        )));
    }
    Ok(())
}

/// A Docker image reference as a user may write it.
pub fn check_image_reference(image: &str) -> Result<(), Invalid> {
    let ok = !image.is_empty() && image.len() <= 255 && image.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-/:@".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(Invalid(format!("invalid image reference {image:?}")))
    }
}

/// What a user-named broker object is: a queue Skiff consumes or publishes to, or an exchange
/// a trigger's queue is bound to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrokerObject {
    Queue,
    Exchange,
}

impl BrokerObject {
    fn as_str(self) -> &'static str {
        match self {
            BrokerObject::Queue => "queue",
            BrokerObject::Exchange => "exchange",
        }
    }
}

/// A queue (or exchange) name a user gives Skiff to consume from or publish to, as a trigger's
/// source or a destination, by one rule so that any queue a destination can feed, a trigger
/// can read: 1 to 200 printable ASCII characters, outside Skiff's own `skiff.` names, and for
/// queues outside the broker's reserved `amq.` ones (exchanges such as `amq.topic` are fine to
/// bind to).
pub fn check_user_queue_name(what: BrokerObject, name: &str) -> Result<(), Invalid> {
    let label = what.as_str();
    if !(1..=200).contains(&name.len()) || !name.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Invalid(format!("invalid {label} {name:?}: 1 to 200 printable characters")));
    }
    if name.starts_with("skiff.") || (name.starts_with("amq.") && what == BrokerObject::Queue) {
        return Err(Invalid(format!("{label} {name:?} is reserved")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_lambda_rules() {
        assert!(check_function_name("hello_World-1").is_ok());
        assert!(check_function_name(&"a".repeat(64)).is_ok());
        for bad in ["", "a/b", "sp ace", "dot.ted", "ünï", &"a".repeat(65)] {
            assert!(check_function_name(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn user_queue_names_keep_out_of_reserved_space() {
        assert!(check_user_queue_name(BrokerObject::Queue, "orders").is_ok());
        assert!(check_user_queue_name(BrokerObject::Exchange, "amq.topic").is_ok());
        for bad in ["", "skiff.fn.x", "amq.gen", "a b", &"x".repeat(201)] {
            assert!(check_user_queue_name(BrokerObject::Queue, bad).is_err(), "{bad:?} accepted");
        }
    }
}
