module github.com/actorrtmfp/actorrtmfp

go 1.26
