//! What each route does, as an IAM action and the resource it acts on, so a key's policy is
//! checked the same way on the Lambda API and the native one. Functions are named by their
//! unqualified ARN (a policy on `function:echo` covers `echo`'s versions and aliases);
//! services and tasks by ECS-style ARNs; everything else by `*`.

use crate::route::{LambdaRoute, Route};
use skiff_api::arn::ACCOUNT;

/// `(action, resource)` of `route`; `None` for routes every caller may use.
pub(crate) fn of(route: &Route<'_>, region: &str) -> Option<(&'static str, String)> {
    let function = |raw: &str| {
        let decoded = percent_encoding::percent_decode_str(raw).decode_utf8_lossy();
        let name = skiff_api::lambda::FunctionRef::parse(&decoded).map(|r| r.name).unwrap_or_else(|_| decoded.into_owned());
        format!("arn:aws:lambda:{region}:{ACCOUNT}:function:{name}")
    };
    let service = |name: &str| format!("arn:aws:ecs:{region}:{ACCOUNT}:service/skiff/{name}");
    let any = || "*".to_string();
    use Route::*;
    Some(match route {
        Health | Internal(_) | Unknown => return None,
        Invoke { function: f } | FunctionUrl { function: f, .. } | AcceptEvent { function: f } => ("lambda:InvokeFunction", function(f)),
        Lambda(operation) => return Some(lambda(operation, &function)),
        Metrics => ("skiff:GetMetrics", any()),
        ListNodes => ("skiff:ListNodes", any()),
        ListFunctions => ("lambda:ListFunctions", any()),
        DeployFunction { name } => ("lambda:UpdateFunctionCode", function(name)),
        GetFunction { name } => ("lambda:GetFunction", function(name)),
        DeleteFunction { name } => ("lambda:DeleteFunction", function(name)),
        FunctionLogs { name } => ("logs:GetLogEvents", function(name)),
        InvocationStatus { .. } => ("lambda:GetFunction", any()),
        FunctionDeadLetters { function: f } | FunctionDeadLetter { function: f, .. } => ("lambda:GetFunction", function(f)),
        RedriveFunction { function: f, .. } => ("lambda:InvokeFunction", function(f)),
        ListTriggers | GetTrigger { .. } | TriggerDeadLetters { .. } | TriggerDeadLetter { .. } => ("lambda:ListEventSourceMappings", any()),
        AddTrigger | RedriveTrigger { .. } => ("lambda:CreateEventSourceMapping", any()),
        RemoveTrigger { .. } => ("lambda:DeleteEventSourceMapping", any()),
        ServiceProxy { service: s, .. } => ("skiff:CallService", service(s)),
        ListServices => ("ecs:ListServices", any()),
        DeployService { name } | ScaleService { name } => ("ecs:UpdateService", service(name)),
        GetService { name } | ServiceEndpoints { name } | ServiceLogs { name } => ("ecs:DescribeServices", service(name)),
        DeleteService { name } => ("ecs:DeleteService", service(name)),
        RunTask => ("ecs:RunTask", any()),
        ListTasks | GetTask { .. } | TaskLogs { .. } => ("ecs:DescribeTasks", any()),
        StopTask { .. } => ("ecs:StopTask", any()),
        CreateKey => ("iam:CreateAccessKey", any()),
        ListKeys => ("iam:ListAccessKeys", any()),
        DeleteKey { .. } => ("iam:DeleteAccessKey", any()),
    })
}

fn lambda(operation: &LambdaRoute<'_>, function: &dyn Fn(&str) -> String) -> (&'static str, String) {
    use LambdaRoute::*;
    match *operation {
        CreateFunction => ("lambda:CreateFunction", "*".into()),
        ListFunctions => ("lambda:ListFunctions", "*".into()),
        AccountSettings => ("lambda:GetAccountSettings", "*".into()),
        GetFunction { function: f } => ("lambda:GetFunction", function(f)),
        GetConfiguration { function: f } => ("lambda:GetFunctionConfiguration", function(f)),
        DeleteFunction { function: f } => ("lambda:DeleteFunction", function(f)),
        UpdateConfiguration { function: f } => ("lambda:UpdateFunctionConfiguration", function(f)),
        UpdateCode { function: f } => ("lambda:UpdateFunctionCode", function(f)),
        PutConcurrency { function: f } => ("lambda:PutFunctionConcurrency", function(f)),
        GetConcurrency { function: f } => ("lambda:GetFunctionConcurrency", function(f)),
        DeleteConcurrency { function: f } => ("lambda:DeleteFunctionConcurrency", function(f)),
        PutEventInvokeConfig { function: f } => ("lambda:PutFunctionEventInvokeConfig", function(f)),
        GetEventInvokeConfig { function: f } => ("lambda:GetFunctionEventInvokeConfig", function(f)),
        DeleteEventInvokeConfig { function: f } => ("lambda:DeleteFunctionEventInvokeConfig", function(f)),
        PublishVersion { function: f } => ("lambda:PublishVersion", function(f)),
        ListVersions { function: f } => ("lambda:ListVersionsByFunction", function(f)),
        CreateAlias { function: f } => ("lambda:CreateAlias", function(f)),
        ListAliases { function: f } => ("lambda:ListAliases", function(f)),
        GetAlias { function: f, .. } => ("lambda:GetAlias", function(f)),
        UpdateAlias { function: f, .. } => ("lambda:UpdateAlias", function(f)),
        DeleteAlias { function: f, .. } => ("lambda:DeleteAlias", function(f)),
        CreateUrlConfig { function: f } => ("lambda:CreateFunctionUrlConfig", function(f)),
        GetUrlConfig { function: f } => ("lambda:GetFunctionUrlConfig", function(f)),
        UpdateUrlConfig { function: f } => ("lambda:UpdateFunctionUrlConfig", function(f)),
        DeleteUrlConfig { function: f } => ("lambda:DeleteFunctionUrlConfig", function(f)),
        ListUrlConfigs { function: f } => ("lambda:ListFunctionUrlConfigs", function(f)),
        CreateEventSourceMapping => ("lambda:CreateEventSourceMapping", "*".into()),
        ListEventSourceMappings | GetEventSourceMapping { .. } => ("lambda:ListEventSourceMappings", "*".into()),
        DeleteEventSourceMapping { .. } => ("lambda:DeleteEventSourceMapping", "*".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invocations_of_any_qualifier_act_on_the_functions_arn() {
        let (action, resource) = of(&Route::Invoke { function: "echo%3Alive" }, "us-east-1").unwrap();
        assert_eq!((action, resource.as_str()), ("lambda:InvokeFunction", "arn:aws:lambda:us-east-1:000000000000:function:echo"));
        let (action, _) = of(&Route::Lambda(LambdaRoute::PublishVersion { function: "echo" }), "us-east-1").unwrap();
        assert_eq!(action, "lambda:PublishVersion");
        assert_eq!(of(&Route::Health, "us-east-1"), None);
        assert_eq!(of(&Route::DeployFunction { name: "f" }, "r").unwrap().0, "lambda:UpdateFunctionCode");
    }
}
