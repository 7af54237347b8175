package server

import "google.golang.org/protobuf/proto"

func marshalForFuzz(m proto.Message) ([]byte, error) { return proto.Marshal(m) }

func unmarshalForFuzz(b []byte, m proto.Message) error { return proto.Unmarshal(b, m) }
