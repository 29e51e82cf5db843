//! Terminal monitor (skeleton until its own issue).
