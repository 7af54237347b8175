package rules

import (
	"cel.dev/cel-go/common/types"
	fwv1 "github.com/farmwatch/farmwatch/proto/farmwatch/v1"
	"google.golang.org/protobuf/proto"
)

func typesList(s *Set, ms []proto.Message) any {
	return types.NewDynamicList(s.envs.adapter, ms)
}

func typesFindings(s *Set, fs []*fwv1.Finding) any {
	return types.NewDynamicList(s.envs.adapter, fs)
}
