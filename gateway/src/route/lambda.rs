//! Lambda's control-plane paths (every API version prefix the SDKs use) as typed operations.
//! `function` is the path segment as sent (percent-encoded; a name, `name:qualifier` or an
//! ARN): the handler decodes it.

use hyper::Method;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LambdaRoute<'a> {
    CreateFunction,
    ListFunctions,
    GetFunction { function: &'a str },
    DeleteFunction { function: &'a str },
    GetConfiguration { function: &'a str },
    UpdateConfiguration { function: &'a str },
    UpdateCode { function: &'a str },
    PutConcurrency { function: &'a str },
    GetConcurrency { function: &'a str },
    DeleteConcurrency { function: &'a str },
    PutEventInvokeConfig { function: &'a str },
    GetEventInvokeConfig { function: &'a str },
    DeleteEventInvokeConfig { function: &'a str },
    PublishVersion { function: &'a str },
    ListVersions { function: &'a str },
    CreateAlias { function: &'a str },
    ListAliases { function: &'a str },
    GetAlias { function: &'a str, alias: &'a str },
    UpdateAlias { function: &'a str, alias: &'a str },
    DeleteAlias { function: &'a str, alias: &'a str },
    CreateUrlConfig { function: &'a str },
    GetUrlConfig { function: &'a str },
    UpdateUrlConfig { function: &'a str },
    DeleteUrlConfig { function: &'a str },
    ListUrlConfigs { function: &'a str },
    CreateEventSourceMapping,
    ListEventSourceMappings,
    GetEventSourceMapping { id: &'a str },
    DeleteEventSourceMapping { id: &'a str },
    AccountSettings,
}

/// `segments` without the empty one a trailing slash leaves; `None` if not a Lambda path.
pub(crate) fn parse<'a>(method: &Method, segments: &[&'a str]) -> Option<LambdaRoute<'a>> {
    use LambdaRoute::*;
    let route = match (method.clone(), segments) {
        (Method::POST, ["2015-03-31", "functions"]) => CreateFunction,
        (Method::GET, ["2015-03-31", "functions"]) => ListFunctions,
        (Method::GET, ["2015-03-31", "functions", function]) => GetFunction { function },
        (Method::DELETE, ["2015-03-31", "functions", function]) => DeleteFunction { function },
        (Method::GET, ["2015-03-31", "functions", function, "configuration"]) => GetConfiguration { function },
        (Method::PUT, ["2015-03-31", "functions", function, "configuration"]) => UpdateConfiguration { function },
        (Method::PUT, ["2015-03-31", "functions", function, "code"]) => UpdateCode { function },
        (Method::PUT, ["2017-10-31", "functions", function, "concurrency"]) => PutConcurrency { function },
        (Method::GET, ["2019-09-30", "functions", function, "concurrency"]) => GetConcurrency { function },
        (Method::DELETE, ["2017-10-31", "functions", function, "concurrency"]) => DeleteConcurrency { function },
        (Method::PUT, ["2019-09-25", "functions", function, "event-invoke-config"]) => PutEventInvokeConfig { function },
        (Method::GET, ["2019-09-25", "functions", function, "event-invoke-config"]) => GetEventInvokeConfig { function },
        (Method::DELETE, ["2019-09-25", "functions", function, "event-invoke-config"]) => DeleteEventInvokeConfig { function },
        (Method::POST, ["2015-03-31", "functions", function, "versions"]) => PublishVersion { function },
        (Method::GET, ["2015-03-31", "functions", function, "versions"]) => ListVersions { function },
        (Method::POST, ["2015-03-31", "functions", function, "aliases"]) => CreateAlias { function },
        (Method::GET, ["2015-03-31", "functions", function, "aliases"]) => ListAliases { function },
        (Method::GET, ["2015-03-31", "functions", function, "aliases", alias]) => GetAlias { function, alias },
        (Method::PUT, ["2015-03-31", "functions", function, "aliases", alias]) => UpdateAlias { function, alias },
        (Method::DELETE, ["2015-03-31", "functions", function, "aliases", alias]) => DeleteAlias { function, alias },
        (Method::POST, ["2021-10-31", "functions", function, "url"]) => CreateUrlConfig { function },
        (Method::GET, ["2021-10-31", "functions", function, "url"]) => GetUrlConfig { function },
        (Method::PUT, ["2021-10-31", "functions", function, "url"]) => UpdateUrlConfig { function },
        (Method::DELETE, ["2021-10-31", "functions", function, "url"]) => DeleteUrlConfig { function },
        (Method::GET, ["2021-10-31", "functions", function, "urls"]) => ListUrlConfigs { function },
        (Method::POST, ["2015-03-31", "event-source-mappings"]) => CreateEventSourceMapping,
        (Method::GET, ["2015-03-31", "event-source-mappings"]) => ListEventSourceMappings,
        (Method::GET, ["2015-03-31", "event-source-mappings", id]) => GetEventSourceMapping { id },
        (Method::DELETE, ["2015-03-31", "event-source-mappings", id]) => DeleteEventSourceMapping { id },
        (Method::GET, ["2016-08-19", "account-settings"]) => AccountSettings,
        _ => return None,
    };
    Some(route)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lambdas_paths_parse_into_operations() {
        let p = |m: Method, path: &'static str| {
            let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
            parse(&m, &segments)
        };
        assert_eq!(p(Method::POST, "/2015-03-31/functions/"), Some(LambdaRoute::CreateFunction));
        assert_eq!(p(Method::GET, "/2015-03-31/functions"), Some(LambdaRoute::ListFunctions));
        assert_eq!(p(Method::GET, "/2015-03-31/functions/f"), Some(LambdaRoute::GetFunction { function: "f" }));
        assert_eq!(p(Method::PUT, "/2015-03-31/functions/f/code"), Some(LambdaRoute::UpdateCode { function: "f" }));
        assert_eq!(p(Method::GET, "/2019-09-30/functions/f/concurrency"), Some(LambdaRoute::GetConcurrency { function: "f" }));
        assert_eq!(p(Method::GET, "/2017-10-31/functions/f/concurrency"), None);
        assert_eq!(p(Method::GET, "/2016-08-19/account-settings/"), Some(LambdaRoute::AccountSettings));
        assert_eq!(p(Method::PATCH, "/2015-03-31/functions/f"), None);
        assert_eq!(p(Method::POST, "/2015-03-31/functions/f/versions"), Some(LambdaRoute::PublishVersion { function: "f" }));
        assert_eq!(p(Method::PUT, "/2015-03-31/functions/f/aliases/live"), Some(LambdaRoute::UpdateAlias { function: "f", alias: "live" }));
        assert_eq!(p(Method::PUT, "/2015-03-31/functions/f/aliases"), None);
        assert_eq!(p(Method::POST, "/2021-10-31/functions/f/url"), Some(LambdaRoute::CreateUrlConfig { function: "f" }));
        assert_eq!(p(Method::GET, "/2021-10-31/functions/f/urls"), Some(LambdaRoute::ListUrlConfigs { function: "f" }));
        assert_eq!(p(Method::GET, "/2015-03-31/functions/f/url"), None);
        assert_eq!(p(Method::POST, "/2015-03-31/event-source-mappings/"), Some(LambdaRoute::CreateEventSourceMapping));
        assert_eq!(p(Method::DELETE, "/2015-03-31/event-source-mappings/u1"), Some(LambdaRoute::DeleteEventSourceMapping { id: "u1" }));
    }
}
