;; A wasip1 module that opens one file again and again, keeping every
;; descriptor, until path_open fails; then closes one and opens again. Exits
;; with the errno of the failure (33, mfile, at the pod's open-file cap)
;; when the reopen worked, 99 when it did not, 100 when it could not create
;; the file at all.
(module
  (import "wasi_snapshot_preview1" "path_open"
    (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_close" (func $fd_close (param i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "fd-target")
  ;; path_open in the first preopen (fd 3, the container's root), read and
  ;; write rights; the new descriptor is stored at address 0.
  (func $open (param $oflags i32) (result i32)
    (call $path_open (i32.const 3) (i32.const 0) (i32.const 16) (i32.const 9)
      (local.get $oflags) (i64.const 66) (i64.const 0) (i32.const 0) (i32.const 0)))
  (func (export "_start")
    (local $errno i32)
    (local.set $errno (call $open (i32.const 1)))
    (if (local.get $errno) (then (call $exit (i32.const 100))))
    (loop $more
      (local.set $errno (call $open (i32.const 0)))
      (br_if $more (i32.eqz (local.get $errno))))
    ;; Address 0 still holds the last descriptor that opened.
    (drop (call $fd_close (i32.load (i32.const 0))))
    (if (call $open (i32.const 0)) (then (call $exit (i32.const 99))))
    (call $exit (local.get $errno))))
