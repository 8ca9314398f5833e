//! Rules across fields, checked after parsing.
