module jobplatform/bench/loadgen

go 1.24
