/* A WASI preview 1 command in C: the event arrives on stdin, the result goes to stdout,
 * logs go to stderr. Greets the caller named in the event's "name" field. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Finds "name":"..." in the event; returns a malloc'd copy or NULL. Enough JSON for an example. */
static char *json_string_field(const char *json, const char *field) {
    char key[64];
    snprintf(key, sizeof key, "\"%s\"", field);
    const char *p = strstr(json, key);
    if (!p) return NULL;
    p = strchr(p + strlen(key), ':');
    if (!p) return NULL;
    p = strchr(p, '"');
    if (!p) return NULL;
    const char *end = strchr(++p, '"');
    if (!end) return NULL;
    char *out = malloc((size_t)(end - p) + 1);
    memcpy(out, p, (size_t)(end - p));
    out[end - p] = '\0';
    return out;
}

int main(void) {
    size_t cap = 4096, len = 0;
    char *event = malloc(cap);
    size_t n;
    while ((n = fread(event + len, 1, cap - len - 1, stdin)) > 0) {
        len += n;
        if (cap - len < 2) event = realloc(event, cap *= 2);
    }
    event[len] = '\0';

    char *name = json_string_field(event, "name");
    const char *greeting = getenv("GREETING");
    const char *function = getenv("AWS_LAMBDA_FUNCTION_NAME");
    fprintf(stderr, "hello-c: handling request %s\n", getenv("AWS_LAMBDA_REQUEST_ID"));
    printf("{\"message\":\"%s, %s!\",\"function\":\"%s\",\"memory_mb\":\"%s\"}",
           greeting ? greeting : "Hello", name ? name : "world", function ? function : "",
           getenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE"));
    free(name);
    free(event);
    return 0;
}
