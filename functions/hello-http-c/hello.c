// A wasi:http/proxy component in C: the same file runs on Skiff, `wasmtime serve` and Spin.
// It answers "hello from C" with the request's path, and logs a line per call on stderr.
// Bindings: build/bindings.{c,h}, generated from the WIT by build.sh.
#include "bindings.h"
#include <stdio.h>
#include <string.h>

static void header(wasi_http_types_tuple2_field_name_field_value_t *field, const char *name, const char *value) {
  bindings_string_set(&field->f0, name);
  field->f1.ptr = (uint8_t *)value;
  field->f1.len = strlen(value);
}

// Writes all of `data` to `body`, in pieces the stream accepts (at most 4096 bytes each).
static bool write_all(wasi_http_types_borrow_outgoing_body_t body, const uint8_t *data, size_t len) {
  wasi_http_types_own_output_stream_t out;
  if (!wasi_http_types_method_outgoing_body_write(body, &out)) return false;
  wasi_io_streams_borrow_output_stream_t stream = wasi_io_streams_borrow_output_stream(out);
  bool ok = true;
  for (size_t at = 0; ok && at < len; at += 4096) {
    size_t n = len - at < 4096 ? len - at : 4096;
    bindings_list_u8_t piece = { (uint8_t *)data + at, n };
    wasi_io_streams_stream_error_t err;
    ok = wasi_io_streams_method_output_stream_blocking_write_and_flush(stream, &piece, &err);
  }
  wasi_io_streams_output_stream_drop_own(out);
  return ok;
}

void exports_wasi_http_incoming_handler_handle(exports_wasi_http_incoming_handler_own_incoming_request_t request,
                                               exports_wasi_http_incoming_handler_own_response_outparam_t response_out) {
  bindings_string_t path = { 0 };
  if (!wasi_http_types_method_incoming_request_path_with_query(wasi_http_types_borrow_incoming_request(request), &path)) {
    bindings_string_set(&path, "/");
  }
  wasi_http_types_incoming_request_drop_own(request);
  fprintf(stderr, "hello-http-c: %.*s\n", (int)path.len, (const char *)path.ptr);

  char text[512];
  int len = snprintf(text, sizeof text, "hello from C: %.*s\n", (int)path.len, (const char *)path.ptr);
  if (len >= (int)sizeof text) len = sizeof text - 1;
  bindings_string_free(&path);

  wasi_http_types_tuple2_field_name_field_value_t fields[2];
  header(&fields[0], "content-type", "text/plain");
  header(&fields[1], "x-skiff-example", "hello-http-c");
  wasi_http_types_list_tuple2_field_name_field_value_t list = { fields, 2 };
  wasi_http_types_own_fields_t headers;
  wasi_http_types_header_error_t header_error;
  if (!wasi_http_types_static_fields_from_list(&list, &headers, &header_error)) {
    headers = wasi_http_types_constructor_fields();
  }
  wasi_http_types_own_outgoing_response_t response = wasi_http_types_constructor_outgoing_response(headers);
  wasi_http_types_borrow_outgoing_response_t borrowed = wasi_http_types_borrow_outgoing_response(response);
  wasi_http_types_method_outgoing_response_set_status_code(borrowed, 200);
  wasi_http_types_own_outgoing_body_t body;
  wasi_http_types_method_outgoing_response_body(borrowed, &body);

  wasi_http_types_result_own_outgoing_response_error_code_t result = { .is_err = false };
  result.val.ok = response;
  wasi_http_types_static_response_outparam_set(response_out, &result);

  write_all(wasi_http_types_borrow_outgoing_body(body), (const uint8_t *)text, (size_t)len);
  wasi_http_types_error_code_t finish_error;
  wasi_http_types_static_outgoing_body_finish(body, NULL, &finish_error);
}
