# blocks.awk — turns README.md into the session script that run_readme.sh runs (see there for
# the rules): sh blocks inline, each python / js block written to dir/bNN.py / dir/bNN.mjs and
# run by readme_python / readme_node, readme_fresh / readme_skip for the markers, and
# readme_expect after each line that shows `# -> ANSWER`. Exits 1, naming the README line, on a
# block it cannot run. Usage: awk -v dir=WORKDIR -f blocks.awk README.md > session-body.sh
function err(line, msg) {
  printf "run_readme: README.md:%d: %s\n", line, msg > "/dev/stderr"
  bad = 1
}
function flush_marker() {
  if (marker != "") err(mline, "marker not followed by a block")
  marker = ""
}
function q(s) {  # s as one single-quoted shell word
  gsub(/\047/, "\047\\\047\047", s)
  return "\047" s "\047"
}
# An sh block is kept until its end: a command shown answering an HTTP error (`# -> 4xx`) is
# told so on the line before the curl that starts it, so that the error does not fail it.
function emit_sh(   i, j, wantfail) {
  for (i = 1; i <= nl; i++) {
    if (!match(body[i], /# -> [45][0-9][0-9]/)) continue
    for (j = i; j >= 1 && body[j] !~ /^[ \t]*curl /; j--) ;
    if (j < 1) err(bline[i], "an error answer is shown, but no curl starts the command")
    else wantfail[j] = 1
  }
  for (i = 1; i <= nl; i++) {
    if (wantfail[i]) print "READMEX_EXPECT_FAIL=1"
    print body[i]
    if (match(body[i], /# -> /)) {
      print "readme_expect " bline[i] " " q(substr(body[i], RSTART + 5))
      expects++
    }
  }
}
inblock && /^```$/ {
  inblock = 0
  if (skip) next
  if (lang == "sh") emit_sh()
  else close(file)
  nl = 0
  next
}
inblock {
  if (skip) next
  if (lang == "sh") {
    body[++nl] = $0
    bline[nl] = NR
  } else print > file
  next
}
/^<!-- readme-test: .* -->$/ {
  flush_marker()
  marker = substr($0, 19, length($0) - 22)
  mline = NR
  next
}
/^```/ {
  lang = substr($0, 4)
  inblock = 1
  skip = 0
  if (lang == "") {  # a diagram or a layout, not commands
    flush_marker()
    skip = 1
    next
  }
  if (lang != "sh" && lang != "python" && lang != "js")
    err(NR, "a ```" lang " block; only sh, python and js blocks are run")
  n++
  if (marker == "fresh") print "readme_fresh " NR
  else if (marker ~ /^not run: ./) {
    skip = 1
    notrun++
    print "readme_skip " NR " " q(substr(marker, 10))
  } else if (marker ~ /^covered by make test-[a-z-]+: ./) {
    # a block that needs what no test machine has (a Docker engine); the named target, which
    # make test runs, checks what the block does in another way
    skip = 1
    covered++
    split(substr(marker, 17), parts, ":")
    print "readme_covered " NR " " parts[1] " " q(substr(marker, 19 + length(parts[1])))
  } else if (marker != "") err(mline, "unknown marker \"" marker "\"")
  marker = ""
  if (skip) next
  ran[lang]++
  file = sprintf("%s/b%02d.%s", dir, n, lang == "python" ? "py" : "mjs")
  if (lang == "sh") print "readme_block " NR " sh"
  else if (lang == "python") print "readme_python " NR " " file
  else print "readme_node " NR " " file
  next
}
{ flush_marker() }
END {
  if (inblock) err(NR, "the file ends inside a block")
  if (notrun > 1) err(NR, notrun " blocks are marked not run; only the Quick start may be")
  if (ran["sh"] < 10 || ran["python"] < 1 || ran["js"] < 1)
    err(NR, sprintf("%d sh, %d python, %d js blocks to run; expected >= 10, 1, 1", ran["sh"],
                    ran["python"], ran["js"]))
  print "readme_stop"
  printf "[ \"$READMEX_EXPECTS\" = %d ] || { echo \"run_readme: $READMEX_EXPECTS of %d " \
         "answers checked\" >&2; exit 1; }\n", expects, expects
  printf "echo \"run_readme: %d blocks run (%d sh, %d python, %d js), %d not run, %d covered by " \
         "other tests, %d answers checked\"\n", n - notrun - covered, ran["sh"], ran["python"],
         ran["js"], notrun, covered, expects
  exit bad
}
