package integration

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"unicode"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
)

// The test binary registers the production modules and the simulator
// (main_test.go); a directive added in a package that the root package
// does not import needs its own blank import there.

// root is the repository, from this package's directory.
const root = ".."

// A Caddyfile block whose subdirectives the README must document:
// directive is the directive or global option it belongs to, name is how
// its parser names the block in its errors, probe is a Caddyfile with %s
// where a subdirective goes, and sections are the headings (each a prefix
// of the heading line) whose own text, up to the next heading, must
// document each subdirective: README.md's, or another file's as
// "docs/x.md::## Heading".
type readmeBlock struct {
	directive, name string
	probe           string
	sections        []string
}

// global puts a line inside the wechat global option.
func global(inner string) string {
	return "{\n\twechat {\n\t\t" + strings.ReplaceAll(inner, "\n", "\n\t\t") + "\n\t}\n}\n"
}

// site puts a line inside a site block.
func site(inner string) string {
	return ":8080 {\n\t" + strings.ReplaceAll(inner, "\n", "\n\t") + "\n}\n"
}

// readmeBlocks is every block of every directive. A new directive, a new
// block or a new store module is one line here.
var readmeBlocks = []readmeBlock{
	{"wechat", "wechat", global("%s"), []string{"## Configuration"}},
	{"wechat", "app wx0123456789abcdef", global("app wx0123456789abcdef {\n\t%s\n}"), []string{"## Configuration"}},
	{"wechat", "token", global("token {\n\t%s\n}"), []string{"## Configuration"}},
	{"wechat", "cookie", global("cookie {\n\t%s\n}"), []string{"## Sessions:"}},
	{"wechat", "assertion", global("assertion {\n\t%s\n}"), []string{"### `X-Wechat-Assertion`"}},
	{"wechat", "the memory store", global("store memory {\n\t%s\n}"), []string{"## Configuration"}},
	{"wechat", "store redis", global("store redis {\n\t%s\n}"), []string{"## Running several instances"}},
	{"wechat_login", "wechat_login", site("wechat_login {\n\t%s\n}"), []string{"### `wechat_login "}},
	{"wechat_logout", "wechat_logout", site("wechat_logout {\n\t%s\n}"), []string{"### Logout"}},
	{"wechat_auth", "wechat_auth", site("wechat_auth {\n\t%s\n}"), []string{"### `wechat_auth "}},
	{"wechat_auth", "assertion", site("wechat_auth {\n\tassertion {\n\t\t%s\n\t}\n}"), []string{"### `wechat_auth "}},
	{"wechat_ticket", "wechat_ticket", site("wechat_ticket {\n\t%s\n}"), []string{"### From the Mini Program to a web-view"}},
	{"wechat_jwks", "wechat_jwks", site("wechat_jwks {\n\t%s\n}"), []string{"### `wechat_jwks "}},
	{"wechat_decrypt", "wechat_decrypt", site("wechat_decrypt {\n\t%s\n}"), []string{"### `wechat_decrypt`"}},
	{"wechat_phone", "wechat_phone", site("wechat_phone {\n\t%s\n}"), []string{"### `wechat_phone`"}},
	{"wechat_api", "wechat_api", site("wechat_api {\n\t%s\n}"), []string{"### `wechat_api`"}},
	{"wechat_mock", "wechat_mock", site("wechat_mock {\n\t%s\n}"), []string{"### `wechat_mock "}},
	{"wechatpay", "wechatpay", "{\n\twechatpay {\n\t\t%s\n\t}\n}\n", []string{"### Configuration"}},
	{"wechatpay", "merchant 1900000109", "{\n\twechatpay {\n\t\tmerchant 1900000109 {\n\t\t\t%s\n\t\t}\n\t}\n}\n", []string{"### Configuration"}},
	{"wechatpay_api", "wechatpay_api", site("wechatpay_api {\n\t%s\n}"), []string{"### `wechatpay_api "}},
	{"wechatpay_notify", "wechatpay_notify", site("wechatpay_notify {\n\t%s\n}"), []string{"### `wechatpay_notify "}},
	{"wechatpay_mock", "wechatpay_mock", site("wechatpay_mock {\n\t%s\n}"), []string{"### Development: the WeChat Pay simulator"}},
}

// The two ways a parser here refuses a word it does not know.
var (
	unknownRe   = regexp.MustCompile(`unknown subdirective "([^"]*)" in (.+?); expected (.+?), at `)
	noOptionsRe = regexp.MustCompile(`(?:^|: )([^:]+?) takes no options, got "([^"]*)", at `)
)

// refusal reports whether err refuses word as an unknown subdirective, the
// block's name as the error gives it, and the subdirectives the error
// lists (none for a block that takes no options).
func refusal(err error, word string) (refused bool, block string, listed []string) {
	if err == nil {
		return false, "", nil
	}
	if m := unknownRe.FindStringSubmatch(err.Error()); m != nil && m[1] == word {
		list := strings.ReplaceAll(m[3], " or ", ", ")
		return true, m[2], strings.Split(list, ", ")
	}
	if m := noOptionsRe.FindStringSubmatch(err.Error()); m != nil && m[2] == word {
		return true, m[1], []string{}
	}
	return false, "", nil
}

func adaptErr(cfg string) error {
	_, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(cfg), nil)
	return err
}

// TestReadmeDocumentsEverySubdirective: for every block of every
// directive, the subdirectives its parser accepts (the list its error
// names for an unknown one, cross-checked against every identifier-like
// string literal of the source) are each documented in README.md, as a
// word of a caddyfile block or in backticks, under that directive's
// heading.
func TestReadmeDocumentsEverySubdirective(t *testing.T) {
	files := map[string][]readmeSection{}
	sectionsOf := func(file string) []readmeSection {
		if s, ok := files[file]; ok {
			return s
		}
		b, err := os.ReadFile(filepath.Join(root, file))
		if err != nil {
			t.Fatal(err)
		}
		files[file] = readmeSections(string(b))
		return files[file]
	}
	candidates := sourceWords(t)
	const bogus = "zz_not_a_subdirective"

	for _, b := range readmeBlocks {
		t.Run(b.directive+"/"+b.name, func(t *testing.T) {
			probe := func(word string) error { return adaptErr(strings.Replace(b.probe, "%s", word, 1)) }
			err := probe(bogus)
			refused, name, listed := refusal(err, bogus)
			if !refused {
				t.Fatalf("an unknown subdirective %q in %s gave %v;\nevery parser here refuses one with `unknown subdirective %%q in <block>; expected a, b or c` "+
					"(is the directive's package imported by integration/main_test.go?) "+
					"(or `<block> takes no options, got %%q`), and this test reads the list from it: keep the message, or fix the probe in readmeBlocks", bogus, b.name, err)
			}
			if name != b.name {
				t.Fatalf("the probe reached %q, not %q: %v", name, b.name, err)
			}
			for _, w := range listed {
				if !regexp.MustCompile(`^[a-z][a-z0-9_]*$`).MatchString(w) {
					t.Fatalf("cannot read the subdirective list %q of %v", listed, err)
				}
				if r, _, _ := refusal(probe(w), w); r {
					t.Errorf("%s's error lists %q, but the parser refuses it as unknown", b.name, w)
				}
			}
			// A subdirective the parser takes but forgets to list.
			for _, w := range candidates {
				if slices.Contains(listed, w) {
					continue
				}
				if err := probe(w); err == nil || !isRefused(err, w) {
					t.Errorf("%s accepts %q (%v), but its error for an unknown subdirective does not list it; add it to the message", b.name, w, err)
				}
			}
			// The README.
			documented := map[string]bool{}
			for _, spec := range b.sections {
				file, h, ok := strings.Cut(spec, "::")
				if !ok {
					file, h = "README.md", spec
				}
				found := false
				for _, s := range sectionsOf(file) {
					if strings.HasPrefix(s.heading, h) {
						found = true
						for w := range s.words {
							documented[w] = true
						}
					}
				}
				if !found {
					t.Fatalf("%s has no heading that starts with %q; if it was renamed, update readmeBlocks in readme_test.go", file, h)
				}
			}
			for _, w := range listed {
				if !documented[w] {
					t.Errorf("the docs do not document %s's subdirective %q under %q: add it to that section's caddyfile block (with its default) or name it in backticks", b.name, w, b.sections)
				}
			}
			if !t.Failed() {
				t.Logf("%s: %d subdirectives, all documented: %v", b.name, len(listed), listed)
			}
		})
	}
}

// isRefused reports whether err refuses word as unknown (as opposed to
// taking it and finding its arguments wrong).
func isRefused(err error, word string) bool {
	r, _, _ := refusal(err, word)
	return r
}

// TestReadmeBlocksCoverEveryDirective: every directive and global option
// registered in this module's source, and every store module, has a row
// in readmeBlocks, so that a new one cannot go undocumented unnoticed.
func TestReadmeBlocksCoverEveryDirective(t *testing.T) {
	covered := map[string]bool{}
	for _, b := range readmeBlocks {
		covered[b.directive] = true
	}
	for _, reg := range registeredDirectives(t) {
		if !covered[reg.name] {
			t.Errorf("%s registers the Caddyfile directive or option %q, and readmeBlocks in readme_test.go has no row for it: add one", reg.at, reg.name)
		}
	}
	// Every store module is a block of the wechat option's store.
	stores := caddy.GetModules("wechat.stores")
	if len(stores) == 0 {
		t.Fatal("no wechat.stores module is registered")
	}
	for _, m := range stores {
		if !slices.ContainsFunc(readmeBlocks, func(b readmeBlock) bool {
			return strings.Contains(b.probe, "store "+m.ID.Name()+" {")
		}) {
			t.Errorf("the store module %s has no row in readmeBlocks (readme_test.go): add one that probes `store %s { %%s }`", m.ID, m.ID.Name())
		}
	}
}

type registration struct{ name, at string }

// registeredDirectives finds the httpcaddyfile.Register* calls of the
// module's own source, with their string literal names.
func registeredDirectives(t *testing.T) []registration {
	var regs []registration
	eachGoFile(t, func(path string, f *ast.File, fset *token.FileSet) {
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) == 0 {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok || !slices.Contains([]string{"RegisterHandlerDirective", "RegisterDirective", "RegisterGlobalOption"}, sel.Sel.Name) {
				return true
			}
			if lit, ok := call.Args[0].(*ast.BasicLit); ok && lit.Kind == token.STRING {
				name, _ := strconv.Unquote(lit.Value)
				regs = append(regs, registration{name, fset.Position(call.Pos()).String()})
			}
			return true
		})
	})
	if len(regs) == 0 {
		t.Fatal("found no httpcaddyfile.Register* call in the source")
	}
	return regs
}

// sourceWords is every identifier-like string literal of the module's
// non-test source: every word a parser could compare a subdirective with.
func sourceWords(t *testing.T) []string {
	seen := map[string]bool{}
	word := regexp.MustCompile(`^[a-z][a-z0-9_]{0,40}$`)
	eachGoFile(t, func(_ string, f *ast.File, _ *token.FileSet) {
		ast.Inspect(f, func(n ast.Node) bool {
			if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING {
				if s, err := strconv.Unquote(lit.Value); err == nil && word.MatchString(s) {
					seen[s] = true
				}
			}
			return true
		})
	})
	// The Caddyfile lexer's own word, never a subdirective.
	delete(seen, "import")
	words := make([]string, 0, len(seen))
	for w := range seen {
		words = append(words, w)
	}
	sort.Strings(words)
	return words
}

// eachGoFile parses every non-test Go file of the module, but the
// examples, the load generators and vendored trees.
func eachGoFile(t *testing.T, fn func(string, *ast.File, *token.FileSet)) {
	t.Helper()
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case "examples", "cmd", "testdata", "node_modules", "integration":
				return filepath.SkipDir
			}
			if path != root && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		fn(path, f, fset)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

type readmeSection struct {
	heading string
	words   map[string]bool
}

var (
	backtickRe = regexp.MustCompile("`([^`]+)`")
	wordRe     = regexp.MustCompile(`[a-z][a-z0-9_]*`)
)

// readmeSections splits the README at every heading, and collects the
// words each section's own text documents: every word of its caddyfile
// blocks (comments left out) and every word in backticks (a span may
// cross a line break, as Markdown allows).
func readmeSections(md string) []readmeSection {
	var out []readmeSection
	cur := readmeSection{heading: "", words: map[string]bool{}}
	var text strings.Builder
	flush := func() {
		for _, m := range backtickRe.FindAllStringSubmatch(text.String(), -1) {
			for _, w := range wordRe.FindAllString(m[1], -1) {
				cur.words[w] = true
			}
		}
		text.Reset()
		out = append(out, cur)
	}
	fence := "" // the info string of the open fence, if any
	for _, line := range strings.Split(md, "\n") {
		// Fences inside a block quote ("> ```caddyfile") count too.
		plain := strings.TrimLeft(strings.TrimPrefix(strings.TrimLeft(line, " "), ">"), " ")
		if strings.HasPrefix(plain, "```") {
			if fence == "" {
				fence = strings.TrimPrefix(plain, "```")
				if fence == "" {
					fence = "text"
				}
			} else {
				fence = ""
			}
			continue
		}
		switch {
		case fence == "caddyfile":
			code, _, _ := strings.Cut(plain, "#")
			for _, w := range wordRe.FindAllString(code, -1) {
				cur.words[w] = true
			}
		case fence != "":
		case strings.HasPrefix(line, "#"):
			flush()
			cur = readmeSection{heading: line, words: map[string]bool{}}
		default:
			text.WriteString(line)
			text.WriteString("\n")
		}
	}
	flush()
	return out
}

// TestDocsLinksResolve: every relative link of README.md and docs/*.md
// names a file that exists, and every #anchor a heading of its file (as
// GitHub makes anchors), so that a renamed README section cannot leave
// the troubleshooting and migration guides pointing nowhere.
func TestDocsLinksResolve(t *testing.T) {
	docs, _ := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	docs = append([]string{filepath.Join(root, "README.md")}, docs...)
	link := regexp.MustCompile(`\]\(([^)\s]+)\)`)
	anchors := map[string]map[string]bool{}
	anchorsOf := func(path string) map[string]bool {
		if a, ok := anchors[path]; ok {
			return a
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		a := map[string]bool{}
		for _, h := range markdownHeadings(string(b)) {
			slug := githubSlug(h)
			for n := 1; a[slug]; n++ {
				slug = githubSlug(h) + "-" + strconv.Itoa(n)
			}
			a[slug] = true
		}
		anchors[path] = a
		return a
	}
	for _, doc := range docs {
		b, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range link.FindAllStringSubmatch(stripFences(string(b)), -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			file, anchor, _ := strings.Cut(target, "#")
			path := doc
			if file != "" {
				path = filepath.Join(filepath.Dir(doc), file)
				if _, err := os.Stat(path); err != nil {
					t.Errorf("%s links to %s, which does not exist", doc, target)
					continue
				}
			}
			if anchor != "" && strings.HasSuffix(path, ".md") && !anchorsOf(path)[anchor] {
				t.Errorf("%s links to %s, but %s has no heading with the anchor #%s", doc, target, path, anchor)
			}
		}
	}
}

// stripFences drops the fenced code blocks of a Markdown text.
func stripFences(md string) string {
	var out strings.Builder
	in := false
	for _, line := range strings.Split(md, "\n") {
		if strings.HasPrefix(strings.TrimLeft(strings.TrimPrefix(strings.TrimLeft(line, " "), ">"), " "), "```") {
			in = !in
			continue
		}
		if !in {
			out.WriteString(line + "\n")
		}
	}
	return out.String()
}

// markdownHeadings is the text of every ATX heading outside code.
func markdownHeadings(md string) []string {
	var hs []string
	for _, line := range strings.Split(stripFences(md), "\n") {
		if strings.HasPrefix(line, "#") {
			hs = append(hs, strings.TrimSpace(strings.TrimLeft(line, "#")))
		}
	}
	return hs
}

// githubSlug is the anchor GitHub gives a heading: lower case, letters,
// digits, '-' and '_' kept, spaces turned into '-', the rest dropped.
func githubSlug(h string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(h) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}
