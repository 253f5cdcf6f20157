#ifndef GATEHOUSE_CJANSSON_SHIM_H
#define GATEHOUSE_CJANSSON_SHIM_H

#include <jansson.h>

// jansson's type predicates and value accessors are function-like macros, which Swift
// cannot import; these inline wrappers make them callable.
static inline int gh_json_typeof(const json_t *json) { return (int)json_typeof(json); }
static inline int gh_json_is_true(const json_t *json) { return json_is_true(json); }

// The flag constants are macros too; Swift sees them as Int32 while json_loadb takes size_t.
static inline size_t gh_json_reject_duplicates(void) { return JSON_REJECT_DUPLICATES; }

#endif
