package caapolicy

import (
	"context"
	"sync/atomic"

	"github.com/coredns/coredns/plugin/metadata"
	"github.com/coredns/coredns/request"

	"github.com/caapolicy/caapolicy/internal/served"
)

// Metadata labels, for the log plugin ({/caapolicy/ca}, {/caapolicy/source}) and others.
const (
	metadataCA     = name + "/ca"
	metadataSource = name + "/source"
)

type metadataKey struct{}

// answerMetadata carries the answer source from ServeDNS to the metadata functions. It is set
// just before a CAA reply is written (answersource.go), for dnstap, which reads metadata while the
// reply is written, and again by record, for the error replies the server writes afterwards.
type answerMetadata struct{ source atomic.Int32 } // served.Source+1, 0 before a CAA answer

// Metadata implements metadata.Provider: caapolicy/ca is the CA the client address is
// attributed to, caapolicy/source where a CAA answer came from (policy, merged, partners,
// or passthrough; empty for other queries).
func (c *CAAPolicy) Metadata(ctx context.Context, state request.Request) context.Context {
	ca := c.cas.Lookup(clientAddr(state.W.RemoteAddr()).Addr())
	metadata.SetValueFunc(ctx, metadataCA, func() string { return ca })
	md := &answerMetadata{}
	metadata.SetValueFunc(ctx, metadataSource, func() string {
		if id := md.source.Load(); id > 0 {
			return served.Sources[id-1]
		}
		return ""
	})
	return context.WithValue(ctx, metadataKey{}, md)
}
