//! ARNs as Lambda writes them, so tools that parse them read ours.

/// The account id in every ARN Skiff writes: there are no accounts, and AWS tools need one.
pub const ACCOUNT: &str = "000000000000";

/// `arn:aws:lambda:REGION:000000000000:function:NAME`.
pub fn function_arn(region: &str, function: &str) -> String {
    format!("arn:aws:lambda:{region}:{ACCOUNT}:function:{function}")
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
    }
}
