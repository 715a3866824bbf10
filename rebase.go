package session

// Rebase returns onto with the change that made s from base made again: for s a change
// of base that only appended messages and added token usage (a turn), and onto a later
// state of the same session that another writer changed, having only appended to base
// too (and perhaps renamed it or changed its context). The messages s appended are
// appended to onto as they are, timestamps and usage included, with the usage s added
// besides theirs; UpdatedAt is later than onto's.
//
// It reports false, and returns onto, when that is not the case: s changed base
// otherwise (a Truncate, a name, the context), onto does not extend base, or either is
// another session. A store's update loop uses it to keep a turn's answer, paid for
// already, when another writer committed first, instead of asking the model again; it
// is right only where the turn would stand as well after the other writer's messages,
// which is the caller's to judge. Partial sessions (see [Session.FirstIndex]) rebase when s holds
// the messages it appended and onto's first message is among base's.
func (s Session) Rebase(base, onto Session) (Session, bool) {
	n := base.Len()
	switch {
	case s.id == "" || s.id != base.id || onto.id != base.id:
		return onto, false
	case s.Len() < n || s.messages.first() > n || s.CommonPrefixLen(base) != n:
		return onto, false
	case onto.Len() < n || onto.CommonPrefixLen(base) != n:
		return onto, false
	case !s.sameHeader(base):
		return onto, false
	}
	appended := s.messages.view()[n-s.messages.first():]
	var added TokenUsage
	for _, m := range appended {
		added = added.add(m.Usage())
	}
	extra := TokenUsage{
		InputTokens:      s.usage.InputTokens - base.usage.InputTokens - added.InputTokens,
		OutputTokens:     s.usage.OutputTokens - base.usage.OutputTokens - added.OutputTokens,
		CacheReadTokens:  s.usage.CacheReadTokens - base.usage.CacheReadTokens - added.CacheReadTokens,
		CacheWriteTokens: s.usage.CacheWriteTokens - base.usage.CacheWriteTokens - added.CacheWriteTokens,
		ReasoningTokens:  s.usage.ReasoningTokens - base.usage.ReasoningTokens - added.ReasoningTokens,
	}
	if base.usage.add(added).add(extra) != s.usage {
		return onto, false // counts that saturated, or went down: not a sum to add again
	}
	for _, m := range appended {
		onto.usage = onto.usage.add(m.Usage())
		onto.messages = onto.messages.append(m) // stored as the package stores them already
	}
	onto.usage = onto.usage.add(extra)
	return onto.touched(), true
}

// sameHeader reports whether s and t have the same header but for UpdatedAt and the
// token usage.
func (s Session) sameHeader(t Session) bool {
	return s.id == t.id && s.backend.equal(t.backend) && s.name.equal(t.name) &&
		s.created.equal(t.created) && s.contextErr == nil && t.contextErr == nil &&
		mapsEqual(s.context, t.context) && s.otherContext.equal(t.otherContext) && s.summary.equal(t.summary) &&
		mapsEqual(s.unknown, t.unknown) && mapsEqual(s.unknownUsage, t.unknownUsage)
}
