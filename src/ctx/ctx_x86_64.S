/*
 * ctx_x86_64.S — goroutine context switch for the x86-64 System V ABI.
 *
 * A context is just a saved stack pointer: the callee-saved registers
 * (rbp, rbx, r12-r15), the SSE control/status word (MXCSR) and the x87
 * control word are pushed on the stack being left, the stack pointer is
 * stored, the other stack is installed and the same frame is popped from it.
 * Everything else is caller-saved, so the C compiler has already spilled it.
 *
 * Frame layout (growing down; offsets from the saved sp):
 *    0: mxcsr (4 bytes)   4: x87 control word (2 bytes)   8: r15  16: r14
 *   24: r13  32: r12  40: rbx  48: rbp  56: return address
 * A fresh context (see gort__ctx_make in ctx.h) is this frame with r12 = arg,
 * rbx = entry function, rbp = 0 and return address = gort__ctx_entry.
 */
    .text

/* void gort__ctx_switch(void **save_sp, void *load_sp) */
    .globl  gort__ctx_switch
    .hidden gort__ctx_switch
    .type   gort__ctx_switch, @function
    .p2align 4
gort__ctx_switch:
    .cfi_startproc
    pushq   %rbp
    pushq   %rbx
    pushq   %r12
    pushq   %r13
    pushq   %r14
    pushq   %r15
    subq    $8, %rsp
    stmxcsr (%rsp)
    fnstcw  4(%rsp)
    movq    %rsp, (%rdi)
    movq    %rsi, %rsp
    ldmxcsr (%rsp)
    fldcw   4(%rsp)
    addq    $8, %rsp
    popq    %r15
    popq    %r14
    popq    %r13
    popq    %r12
    popq    %rbx
    popq    %rbp
    ret
    .cfi_endproc
    .size   gort__ctx_switch, .-gort__ctx_switch

/* First instruction of every goroutine: call entry(arg); entry never returns.
 * The return-address column is undefined so that debuggers and unwinders stop
 * here instead of walking into garbage. */
    .globl  gort__ctx_entry
    .hidden gort__ctx_entry
    .type   gort__ctx_entry, @function
    .p2align 4
gort__ctx_entry:
    .cfi_startproc
    .cfi_undefined rip
    movq    %r12, %rdi
    callq   *%rbx
    ud2
    .cfi_endproc
    .size   gort__ctx_entry, .-gort__ctx_entry

    .section .note.GNU-stack,"",@progbits
