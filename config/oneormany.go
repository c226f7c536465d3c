package config

// OneOrMany is a value or a list of values in configuration, as Backstage's keys often take
// them: audience: stagebus, or audience: [stagebus, portal].
type OneOrMany[T any] []T

// UnmarshalConfig accepts one value as well as a list.
func (o *OneOrMany[T]) UnmarshalConfig(n *Node) error {
	if n.Kind == SeqKind {
		var list []T
		if err := DecodeNode(n, &list); err != nil {
			return err
		}
		*o = list
		return nil
	}
	var one T
	if err := DecodeNode(n, &one); err != nil {
		return err
	}
	*o = OneOrMany[T]{one}
	return nil
}
