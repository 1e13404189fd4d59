# Writes OUT: each of FILES (in DIR) as a C array and its length, named
# after the file (dashboard.js: dashboard_js, dashboard_js_len).
string(REPLACE "," ";" FILES "${FILES}")
set(out "/* generated from monitor/ by embed.cmake: do not edit */\n#include <stddef.h>\n")
foreach(f ${FILES})
  file(READ ${DIR}/${f} hex HEX)
  string(LENGTH "${hex}" n)
  math(EXPR n "${n} / 2")
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," hex "${hex}")
  string(MAKE_C_IDENTIFIER ${f} name)
  string(APPEND out "extern const char ${name}[];\nextern const size_t ${name}_len;\n")
  string(APPEND out "const char ${name}[] = { ${hex} 0 };\nconst size_t ${name}_len = ${n};\n")
endforeach()
file(WRITE ${OUT} "${out}")
