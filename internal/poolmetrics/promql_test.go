package poolmetrics

import (
	"fmt"
	"strings"
)

// promqlKeywords are PromQL words that are not metric names: aggregation operators
// (which may be followed by "by (...)" before their parenthesis), binary operators and
// modifiers; by, without, on and ignoring are followed by a label list.
var promqlKeywords = map[string]bool{
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
	"bool": true, "and": true, "or": true, "unless": true, "offset": true,
	"sum": true, "min": true, "max": true, "avg": true, "group": true, "stddev": true, "stdvar": true,
	"count": true, "count_values": true, "bottomk": true, "topk": true, "quantile": true, "limitk": true, "limit_ratio": true,
}

var labelListKeywords = map[string]bool{"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true}

// metricNames returns the metric names a PromQL expression selects (the identifiers that
// are not functions, aggregations or keywords, outside label matchers and ranges). It
// fails on unbalanced brackets, unterminated strings and characters PromQL does not have.
// Grafana variables ($namespace, $__rate_interval) are skipped.
func metricNames(expr string) ([]string, error) {
	var names []string
	var stack []byte
	closing := map[byte]byte{'(': ')', '{': '}', '[': ']'}
	skipLabels := false // the next ( opens a label list
	for i := 0; i < len(expr); {
		c := expr[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n':
			i++
		case c == '"' || c == '\'':
			end := strings.IndexByte(expr[i+1:], c)
			if end < 0 {
				return nil, fmt.Errorf("unterminated string at %d", i)
			}
			i += end + 2
		case c == '(' || c == '{' || c == '[':
			if c == '(' && skipLabels {
				end := strings.IndexByte(expr[i:], ')')
				if end < 0 {
					return nil, fmt.Errorf("unclosed label list at %d", i)
				}
				i += end + 1
				skipLabels = false
				continue
			}
			stack = append(stack, closing[c])
			i++
		case c == ')' || c == '}' || c == ']':
			if len(stack) == 0 || stack[len(stack)-1] != c {
				return nil, fmt.Errorf("unbalanced %q at %d", c, i)
			}
			stack = stack[:len(stack)-1]
			i++
		case c == '$':
			i++
			for i < len(expr) && isIdent(expr[i], false) {
				i++
			}
		case isIdent(c, true):
			start := i
			for i < len(expr) && isIdent(expr[i], false) {
				i++
			}
			word := expr[start:i]
			inMatcher := len(stack) > 0 && (stack[len(stack)-1] == '}' || stack[len(stack)-1] == ']')
			next := strings.TrimLeft(expr[i:], " \t\n")
			switch {
			case inMatcher, strings.HasPrefix(next, "("):
				if labelListKeywords[word] {
					skipLabels = true
				}
			case promqlKeywords[word]:
				skipLabels = labelListKeywords[word]
			default:
				names = append(names, word)
			}
		case c >= '0' && c <= '9' || c == '.':
			for i < len(expr) && (isIdent(expr[i], false) || expr[i] == '.') {
				i++
			}
		case strings.IndexByte("+-*/%^=!<>,~", c) >= 0:
			i++
		default:
			return nil, fmt.Errorf("unexpected %q at %d", c, i)
		}
	}
	if len(stack) > 0 {
		return nil, fmt.Errorf("unclosed brackets %q", stack)
	}
	return names, nil
}

func isIdent(c byte, first bool) bool {
	letter := c == '_' || c == ':' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
	return letter || (!first && c >= '0' && c <= '9')
}

// templateQuery returns the PromQL expression of a Grafana variable query:
// label_values(expr, label) holds one, other queries are PromQL themselves.
func templateQuery(q string) string {
	inner, ok := strings.CutPrefix(strings.TrimSpace(q), "label_values(")
	if !ok {
		return q
	}
	inner = strings.TrimSuffix(strings.TrimSpace(inner), ")")
	if i := strings.LastIndexByte(inner, ','); i >= 0 && !strings.Contains(inner[i:], "}") {
		return inner[:i]
	}
	return inner
}
