;; The smallest wasi:http/proxy handler: every request gets an empty 200. A core module whose
;; imports and exports follow the canonical ABI of the world; build.sh makes it a component.
(module
  (import "wasi:http/types@0.2.12" "[constructor]fields" (func $fields (result i32)))
  (import "wasi:http/types@0.2.12" "[constructor]outgoing-response" (func $response (param i32) (result i32)))
  ;; set(param: response-outparam, response: result<outgoing-response, error-code>), flattened
  (import "wasi:http/types@0.2.12" "[static]response-outparam.set"
    (func $set (param i32 i32 i32 i32 i64 i32 i32 i32 i32)))
  (import "wasi:http/types@0.2.12" "[resource-drop]incoming-request" (func $drop_request (param i32)))
  (memory (export "memory") 1)
  (func (export "wasi:http/incoming-handler@0.2.12#handle") (param $request i32) (param $out i32)
    (call $drop_request (local.get $request))
    ;; ok(outgoing-response) with status 200, the default, and no body
    (call $set (local.get $out) (i32.const 0) (call $response (call $fields))
      (i32.const 0) (i64.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0)))
  ;; The canonical ABI needs an allocator export only for imports that return lists or strings:
  ;; this module calls none.
)
