// Reference renderer for the parity tests: Go's own text/template, set up as Ollama sets it up
// (missingkey=zero, a map of values, messages as pointers to a struct). One JSON case per line
// on stdin, one JSON result per line on stdout.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"text/template"
)

type message struct {
	Role       string
	Content    string
	Thinking   string
	Images     []string
	ToolCalls  []string
	ToolName   string
	ToolCallID string
}

type testCase struct {
	Template string            `json:"template"`
	Data     map[string]any    `json:"data"`
	Messages []map[string]string `json:"messages"`
}

func main() {
	funcs := template.FuncMap{"json": func(v any) string { b, _ := json.Marshal(v); return string(b) }}
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<26)
	out := json.NewEncoder(os.Stdout)
	for in.Scan() {
		var c testCase
		if err := json.Unmarshal(in.Bytes(), &c); err != nil {
			panic(err)
		}
		data := map[string]any{}
		for k, v := range c.Data {
			if f, ok := v.(float64); ok && f == float64(int(f)) {
				data[k] = int(f)
			} else {
				data[k] = v
			}
		}
		if c.Messages != nil {
			msgs := []*message{}
			for _, m := range c.Messages {
				msgs = append(msgs, &message{Role: m["role"], Content: m["content"]})
			}
			data["Messages"] = msgs
		}
		result := map[string]string{}
		tmpl, err := template.New("").Option("missingkey=zero").Funcs(funcs).Parse(c.Template)
		if err != nil {
			result["error"] = err.Error()
		} else {
			var b strings.Builder
			if err := tmpl.Execute(&b, data); err != nil {
				result["error"] = err.Error()
			} else {
				result["output"] = b.String()
			}
		}
		if err := out.Encode(result); err != nil {
			panic(fmt.Sprint(err))
		}
	}
}
