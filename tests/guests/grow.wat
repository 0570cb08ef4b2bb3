;; A wasip1 module that grows its memory by 1 MiB at a time until growing
;; fails, then exits with 3: under a memory limit it never gets there (the
;; runtime ends it at the limit, OOMKilled); without one it stops at the
;; 4 GiB a 32-bit memory can hold.
(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    (loop $more
      (br_if $more (i32.ne (memory.grow (i32.const 16)) (i32.const -1))))
    (call $exit (i32.const 3))))
