// Command render renders a Helm chart's templates the way `helm template` does, for offline checks on
// machines without helm (deploy/check.sh). It uses the same engine as Helm: Go's text/template with the
// Sprig function library and Helm's own functions (include, tpl, required, fail, toYaml, fromYaml,
// toJson, lookup), values merged like Helm (maps deep-merged, everything else replaced), numbers as
// float64 (values go through JSON as in Helm), missing keys rendering as empty.
//
// It is not Helm: no schema validation, no subcharts, no hooks, no Capabilities beyond a fixed
// KubeVersion, lookup always returns an empty map. Build with only Debian's packages, offline:
//
//	apt-get install golang-go golang-github-masterminds-sprig-dev golang-github-ghodss-yaml-dev
//	GO111MODULE=off GOPATH=/usr/share/gocode go run deploy/helm/render/main.go \
//	    -chart deploy/helm/longshot [-f extra-values.yaml]... [-name release] [-namespace ns]
//
// Output: every rendered template that is not empty, each after a "---" and a "# Source:" line;
// NOTES.txt is rendered too but printed only with -notes (alone).
// Exit status 1 with the template error (file, line, function) when a template fails.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig"
	"github.com/ghodss/yaml"
)

type valueFiles []string

func (v *valueFiles) String() string     { return strings.Join(*v, ",") }
func (v *valueFiles) Set(s string) error { *v = append(*v, s); return nil }

func readYAML(path string) (map[string]interface{}, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	out := map[string]interface{}{}
	if err := yaml.Unmarshal(data, &out); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return out, nil
}

// merge puts src over dst: maps are merged key by key, any other value replaces (Helm's coalescing).
func merge(dst, src map[string]interface{}) map[string]interface{} {
	for k, v := range src {
		if sm, ok := v.(map[string]interface{}); ok {
			if dm, ok := dst[k].(map[string]interface{}); ok {
				dst[k] = merge(dm, sm)
				continue
			}
		}
		dst[k] = v
	}
	return dst
}

func main() {
	chart := flag.String("chart", "", "chart directory")
	name := flag.String("name", "release", "release name")
	namespace := flag.String("namespace", "default", "release namespace")
	notes := flag.Bool("notes", false, "print the rendered NOTES.txt instead of the manifests")
	var extra valueFiles
	flag.Var(&extra, "f", "values file merged over the chart's values.yaml (repeatable)")
	flag.Parse()
	if *chart == "" {
		fmt.Fprintln(os.Stderr, "render: -chart DIR is required")
		os.Exit(2)
	}
	if err := run(*chart, *name, *namespace, extra, *notes); err != nil {
		fmt.Fprintln(os.Stderr, "render:", err)
		os.Exit(1)
	}
}

func run(chartDir, releaseName, namespace string, extra []string, notes bool) error {
	meta, err := readYAML(filepath.Join(chartDir, "Chart.yaml"))
	if err != nil {
		return err
	}
	values, err := readYAML(filepath.Join(chartDir, "values.yaml"))
	if err != nil {
		return err
	}
	for _, f := range extra {
		more, err := readYAML(f)
		if err != nil {
			return err
		}
		values = merge(values, more)
	}
	chartName, _ := meta["name"].(string)
	str := func(k string) string { s, _ := meta[k].(string); return s }

	files, err := filepath.Glob(filepath.Join(chartDir, "templates", "*"))
	if err != nil {
		return err
	}
	sort.Strings(files)

	root := template.New("root").Option("missingkey=zero")
	funcs := sprig.TxtFuncMap()
	delete(funcs, "env")
	delete(funcs, "expandenv")
	includeDepth := 0
	funcs["include"] = func(name string, data interface{}) (string, error) {
		includeDepth++
		defer func() { includeDepth-- }()
		if includeDepth > 1000 {
			return "", fmt.Errorf("include %q: too deep (recursion?)", name)
		}
		var buf bytes.Buffer
		if err := root.ExecuteTemplate(&buf, name, data); err != nil {
			return "", err
		}
		return buf.String(), nil
	}
	funcs["tpl"] = func(text string, data interface{}) (string, error) {
		t, err := root.Clone()
		if err != nil {
			return "", err
		}
		t, err = t.New("tpl").Parse(text)
		if err != nil {
			return "", err
		}
		var buf bytes.Buffer
		if err := t.Execute(&buf, data); err != nil {
			return "", err
		}
		return buf.String(), nil
	}
	funcs["required"] = func(msg string, v interface{}) (interface{}, error) {
		if v == nil {
			return nil, errors.New(msg)
		}
		if s, ok := v.(string); ok && s == "" {
			return nil, errors.New(msg)
		}
		return v, nil
	}
	funcs["fail"] = func(msg string) (string, error) { return "", errors.New(msg) }
	funcs["toYaml"] = func(v interface{}) string {
		data, err := yaml.Marshal(v)
		if err != nil {
			return ""
		}
		return strings.TrimSuffix(string(data), "\n")
	}
	funcs["fromYaml"] = func(s string) map[string]interface{} {
		m := map[string]interface{}{}
		if err := yaml.Unmarshal([]byte(s), &m); err != nil {
			m["Error"] = err.Error()
		}
		return m
	}
	funcs["lookup"] = func(string, string, string, string) (map[string]interface{}, error) {
		return map[string]interface{}{}, nil
	}
	root.Funcs(funcs)

	var names []string
	for _, f := range files {
		base := filepath.Base(f)
		if !strings.HasSuffix(base, ".yaml") && !strings.HasSuffix(base, ".yml") &&
			!strings.HasSuffix(base, ".tpl") && base != "NOTES.txt" {
			continue
		}
		text, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		tname := chartName + "/templates/" + base
		if _, err := root.New(tname).Parse(string(text)); err != nil {
			return err
		}
		if !strings.HasPrefix(base, "_") {
			names = append(names, tname)
		}
	}

	data := map[string]interface{}{
		"Values": values,
		"Chart": map[string]interface{}{
			"Name": chartName, "Version": str("version"), "AppVersion": str("appVersion"),
			"Description": str("description"), "KubeVersion": str("kubeVersion"),
		},
		"Release": map[string]interface{}{
			"Name": releaseName, "Namespace": namespace, "Service": "Helm",
			"IsInstall": true, "IsUpgrade": false, "Revision": 1,
		},
		"Capabilities": map[string]interface{}{
			"KubeVersion": map[string]interface{}{"Version": "v1.31.0", "Major": "1", "Minor": "31"},
		},
	}
	var out bytes.Buffer
	for _, tname := range names {
		data["Template"] = map[string]interface{}{"Name": tname, "BasePath": chartName + "/templates"}
		var buf bytes.Buffer
		if err := root.ExecuteTemplate(&buf, tname, data); err != nil {
			return err
		}
		text := strings.ReplaceAll(buf.String(), "<no value>", "")
		// NOTES.txt is rendered (so its errors show) but, as in `helm template`, not printed with the manifests.
		if isNotes := strings.HasSuffix(tname, "/NOTES.txt"); isNotes != notes || strings.TrimSpace(text) == "" {
			continue
		}
		fmt.Fprintf(&out, "---\n# Source: %s\n%s\n", tname, strings.TrimLeft(text, "\n"))
	}
	_, err = os.Stdout.Write(out.Bytes())
	return err
}
