// Package live is the server's live streams: one publication actor per stream name of an
// application, made at the first publish or play of that name and retired when it has
// neither publisher nor subscribers for a while. A publication holds the publisher, the
// subscribers, the last metadata, the codec configuration and the current group of
// pictures, so that a late subscriber starts on a key frame with the configuration first;
// and it fans every message out to its subscribers' sinks (sink.go) as one shared message.
//
// Publish and Play go to the registry of publications (Props), which forwards them to the
// publication of their name; the publication answers the subscriber's or publisher's
// stream actor itself, and everything after (media, Unpublish, Stop) goes to it directly.
package live
