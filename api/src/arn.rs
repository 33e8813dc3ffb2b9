//! ARNs as Lambda writes them, so tools that parse them read ours.

/// The account id in every ARN Skiff writes: there are no accounts, and AWS tools need one.
pub const ACCOUNT: &str = "000000000000";

/// `arn:aws:lambda:REGION:000000000000:function:NAME`.
pub fn function_arn(region: &str, function: &str) -> String {
    format!("arn:aws:lambda:{region}:{ACCOUNT}:function:{function}")
}

/// `arn:aws:sqs:REGION:000000000000:QUEUE`: how Lambda's APIs name one of Skiff's queues
/// (destinations, event source mappings).
pub fn queue_arn(region: &str, queue: &str) -> String {
    format!("arn:aws:sqs:{region}:{ACCOUNT}:{queue}")
}

/// The queue an SQS-style ARN names (any region and account), if it is one.
pub fn queue_of_arn(arn: &str) -> Option<&str> {
    match arn.splitn(6, ':').collect::<Vec<_>>().as_slice() {
        ["arn", _, "sqs", _, _, queue] if !queue.is_empty() => Some(queue),
        _ => None,
    }
}

/// `arn:aws:ecs:REGION:000000000000:task/skiff/ID` (the cluster is named `skiff`).
pub fn task_arn(region: &str, id: &str) -> String {
    format!("arn:aws:ecs:{region}:{ACCOUNT}:task/skiff/{id}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn arn_has_lambdas_shape() {
        assert_eq!(super::function_arn("eu-west-1", "f"), "arn:aws:lambda:eu-west-1:000000000000:function:f");
        assert_eq!(super::queue_of_arn(&super::queue_arn("r", "orders")), Some("orders"));
        assert_eq!(super::queue_of_arn("arn:aws:sqs:r:a:"), None);
        assert_eq!(super::queue_of_arn("arn:aws:sns:r:a:topic"), None);
    }
}
