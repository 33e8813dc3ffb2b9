//! Mutation fuzzing of what the API parses from the network (see `skiff-fuzz`): function
//! references (names, partial and full ARNs, qualifiers) and deploy bodies.

use skiff_api::lambda::reference::FunctionRef;
use skiff_api::DeployBody;

#[test]
fn function_references_never_panic_and_what_parses_parses_the_same_again() {
    skiff_fuzz::run("function_ref", skiff_fuzz::ROUNDS, |input| {
        let raw = String::from_utf8_lossy(input);
        let Ok(parsed) = FunctionRef::parse(&raw) else { return };
        let alone = FunctionRef::parse(&parsed.name).expect("a parsed name parses alone");
        assert_eq!(alone.name, parsed.name);
        if let Some(qualifier) = &parsed.qualifier {
            let again = FunctionRef::parse(&format!("{}:{qualifier}", parsed.name)).expect("name:qualifier parses");
            assert_eq!(again, parsed);
        }
        let _ = parsed.with_query_qualifier(Some(raw.into_owned()));
    });
}

#[test]
fn deploy_bodies_never_panic_and_a_request_they_make_is_checked() {
    skiff_fuzz::run("deploy_body", skiff_fuzz::ROUNDS, |input| {
        let Ok(body) = serde_json::from_slice::<DeployBody>(input) else { return };
        if let Ok(request) = body.into_request("fuzzed") {
            let _ = request.validate();
        }
    });
}
