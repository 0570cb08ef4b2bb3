;; A wasip1 module that never yields on its own: it spins, printing "spin\n"
;; every 2^22 iterations so a test can see that it makes progress too.
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "spin\n")
  (func (export "_start") (local $i i32)
    ;; iovec at 0: base 16, len 5
    (i32.store (i32.const 0) (i32.const 16))
    (i32.store (i32.const 4) (i32.const 5))
    (loop $forever
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (if (i32.eqz (i32.and (local.get $i) (i32.const 0x3fffff)))
        (then (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))
      (br $forever))))
