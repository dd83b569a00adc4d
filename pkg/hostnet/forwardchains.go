package hostnet

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/harvnet/harvnet/pkg/hoststate"
)

// maxJumpDepth bounds how far accepting rules are followed through jumps;
// the kernel refuses loops, a bound keeps bad input from recursing forever.
const maxJumpDepth = 8

// chainRule is one rule of a chain in the doctor's terms: the interfaces
// it matches, whether it matches anything else, and its verdict.
type chainRule struct {
	in, out     string
	conditional bool
	verdict     string // "accept", "drop", "reject", "jump", "" for none
	target      string // the chain of a jump or goto
}

type chainSet struct {
	policy map[string]string // base chain -> policy, lower case
	rules  map[string][]chainRule
}

// forwardChain folds a base chain into what the doctor needs: whether it
// drops what no rule accepts, and every accepting rule, with the
// interfaces of the jumps that led to it.
func (cs chainSet) forwardChain(chain string) hoststate.ForwardChain {
	c := hoststate.ForwardChain{Chain: chain, Drops: cs.policy[chain] == "drop"}
	rules := cs.rules[chain]
	if n := len(rules); n > 0 {
		last := rules[n-1]
		if (last.verdict == "drop" || last.verdict == "reject") && last.in == "" && last.out == "" && !last.conditional {
			c.Drops = true
		}
	}
	cs.collect(chain, chainRule{}, 0, &c.Accepts)
	return c
}

func (cs chainSet) collect(chain string, via chainRule, depth int, out *[]hoststate.Accept) {
	if depth > maxJumpDepth {
		return
	}
	for _, r := range cs.rules[chain] {
		r.in, r.out = first(via.in, r.in), first(via.out, r.out)
		r.conditional = r.conditional || via.conditional
		switch r.verdict {
		case "accept":
			*out = append(*out, hoststate.Accept{In: r.in, Out: r.out, Conditional: r.conditional})
		case "jump":
			cs.collect(r.target, r, depth+1, out)
		}
	}
}

func first(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// parseIPTablesSave reads `iptables-save -t filter` output.
func parseIPTablesSave(text string) chainSet {
	cs := chainSet{policy: map[string]string{}, rules: map[string][]chainRule{}}
	for _, line := range strings.Split(text, "\n") {
		fs := splitQuoted(line)
		switch {
		case len(fs) >= 2 && strings.HasPrefix(fs[0], ":"):
			cs.policy[fs[0][1:]] = strings.ToLower(fs[1])
		case len(fs) >= 2 && fs[0] == "-A":
			cs.rules[fs[1]] = append(cs.rules[fs[1]], parseIPTablesRule(fs[2:]))
		}
	}
	return cs
}

func parseIPTablesRule(fs []string) chainRule {
	var r chainRule
	for i := 0; i < len(fs); i++ {
		arg := ""
		if i+1 < len(fs) {
			arg = fs[i+1]
		}
		switch fs[i] {
		case "-i", "--in-interface":
			r.in, i = arg, i+1
		case "-o", "--out-interface":
			r.out, i = arg, i+1
		case "-j", "-g":
			i++
			switch arg {
			case "ACCEPT", "DROP", "REJECT":
				r.verdict = strings.ToLower(arg)
			case "RETURN", "LOG", "NFLOG", "MARK", "CONNMARK", "CT", "NOTRACK", "TRACE", "":
			default:
				r.verdict, r.target = "jump", arg
			}
		case "-m":
			if arg == "comment" && i+3 < len(fs) && fs[i+2] == "--comment" {
				i += 3 // a comment matches everything
				continue
			}
			r.conditional = true
		default:
			r.conditional = true
		}
	}
	return r
}

// splitQuoted splits on spaces, keeping "double quoted" words (comments)
// whole, as iptables-save quotes them.
func splitQuoted(s string) []string {
	var out []string
	var cur strings.Builder
	inQuote, have := false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && inQuote && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
		case c == '"':
			inQuote, have = !inQuote, true
		case c == ' ' && !inQuote:
			if have {
				out = append(out, cur.String())
				cur.Reset()
				have = false
			}
		default:
			cur.WriteByte(c)
			have = true
		}
	}
	if have {
		out = append(out, cur.String())
	}
	return out
}

// nftRuleset is what `nft -j list ruleset` prints, as far as it is read.
type nftRuleset struct {
	Nftables []struct {
		Chain *struct {
			Family, Table, Name, Type, Hook, Policy string
		} `json:"chain"`
		Rule *struct {
			Family, Table, Chain string
			Expr                 []map[string]json.RawMessage `json:"expr"`
		} `json:"rule"`
	} `json:"nftables"`
}

// parseNftRuleset returns the filter chains on the forward hook of every
// nftables table but iptables-nft's and ip6tables-nft's own filter tables,
// which are read through their saves.
func parseNftRuleset(data []byte) ([]hoststate.ForwardChain, error) {
	var rs nftRuleset
	if err := json.Unmarshal(data, &rs); err != nil {
		return nil, fmt.Errorf("parsing nft -j list ruleset: %w", err)
	}
	type tableKey struct{ family, table string }
	sets := map[tableKey]chainSet{}
	set := func(k tableKey) chainSet {
		if _, ok := sets[k]; !ok {
			sets[k] = chainSet{policy: map[string]string{}, rules: map[string][]chainRule{}}
		}
		return sets[k]
	}
	var bases []struct {
		k     tableKey
		chain string
	}
	for _, o := range rs.Nftables {
		switch {
		case o.Chain != nil:
			k := tableKey{o.Chain.Family, o.Chain.Table}
			cs := set(k)
			if o.Chain.Hook == "forward" && o.Chain.Type == "filter" && !(k.table == "filter" && (k.family == "ip" || k.family == "ip6")) {
				cs.policy[o.Chain.Name] = o.Chain.Policy
				bases = append(bases, struct {
					k     tableKey
					chain string
				}{k, o.Chain.Name})
			}
		case o.Rule != nil:
			cs := set(tableKey{o.Rule.Family, o.Rule.Table})
			cs.rules[o.Rule.Chain] = append(cs.rules[o.Rule.Chain], parseNftRule(o.Rule.Expr))
		}
	}
	var out []hoststate.ForwardChain
	for _, b := range bases {
		c := sets[b.k].forwardChain(b.chain)
		c.Source, c.Family, c.Table = "nft", b.k.family, b.k.table
		out = append(out, c)
	}
	return out, nil
}

func parseNftRule(expr []map[string]json.RawMessage) chainRule {
	var r chainRule
	for _, e := range expr {
		for kind, v := range e {
			switch kind {
			case "accept", "drop", "reject":
				r.verdict = kind
			case "jump", "goto":
				var t struct{ Target string }
				if json.Unmarshal(v, &t) == nil && t.Target != "" {
					r.verdict, r.target = "jump", t.Target
				}
			case "counter", "comment", "log":
			case "match":
				if key, name, ok := nftIfMatch(v); ok && key == "iifname" {
					r.in = name
				} else if ok && key == "oifname" {
					r.out = name
				} else {
					r.conditional = true
				}
			default:
				r.conditional = true
			}
		}
	}
	return r
}

// nftIfMatch reads `iifname "br0"` / `oifname "br*"`: an equality match
// of the meta key against one name.
func nftIfMatch(v json.RawMessage) (key, name string, ok bool) {
	var m struct {
		Op    string
		Left  struct{ Meta struct{ Key string } }
		Right json.RawMessage
	}
	if json.Unmarshal(v, &m) != nil || m.Op != "==" {
		return "", "", false
	}
	if k := m.Left.Meta.Key; k != "iifname" && k != "oifname" {
		return "", "", false
	}
	if json.Unmarshal(m.Right, &name) != nil {
		return "", "", false
	}
	return m.Left.Meta.Key, name, true
}
