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
    /* gort_core: the engine's own code, never preempted (see internal.h). */
    .section gort_core,"ax",@progbits

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

/*
 * Asynchronous preemption (preempt.c). The SIGURG handler made the
 * interrupted goroutine look as if it had called this function: it moved
 * the stack pointer below the 128-byte red zone and pushed the interrupted
 * PC as the return address. We save every register the interrupted code
 * may have live (all general-purpose registers, flags, and the whole
 * x87/SSE/AVX state with XSAVE, or FXSAVE on CPUs without it), call
 * gort__preempt_yield() — which switches to the scheduler and returns when
 * the goroutine is resumed, possibly on another thread — restore
 * everything and return to the interrupted PC, popping the red-zone gap
 * with `ret $128`.
 */
    .globl  gort__async_preempt
    .hidden gort__async_preempt
    .type   gort__async_preempt, @function
    .p2align 4
gort__async_preempt:
    .cfi_startproc
    pushfq
    pushq   %rax
    pushq   %rcx
    pushq   %rdx
    pushq   %rsi
    pushq   %rdi
    pushq   %r8
    pushq   %r9
    pushq   %r10
    pushq   %r11
    pushq   %rbx
    pushq   %rbp
    movq    %rsp, %rbp              /* rbp: the saved-register block */
    cld                             /* the C ABI wants DF = 0 */
    movq    gort__xsave_size(%rip), %rbx
    subq    %rbx, %rsp
    andq    $-64, %rsp              /* XSAVE needs 64-byte alignment */
    /* Zero the XSAVE header (bytes 512..575): XRSTOR faults on garbage. */
    xorl    %eax, %eax
    movq    %rax, 512(%rsp)
    movq    %rax, 520(%rsp)
    movq    %rax, 528(%rsp)
    movq    %rax, 536(%rsp)
    movq    %rax, 544(%rsp)
    movq    %rax, 552(%rsp)
    movq    %rax, 560(%rsp)
    movq    %rax, 568(%rsp)
    cmpl    $0, gort__have_xsave(%rip)
    je      1f
    movl    $-1, %eax
    movl    $-1, %edx
    xsave64 (%rsp)
    jmp     2f
1:  fxsave64 (%rsp)
2:  call    gort__preempt_yield
    cmpl    $0, gort__have_xsave(%rip)
    je      3f
    movl    $-1, %eax
    movl    $-1, %edx
    xrstor64 (%rsp)
    jmp     4f
3:  fxrstor64 (%rsp)
4:  movq    %rbp, %rsp
    popq    %rbp
    popq    %rbx
    popq    %r11
    popq    %r10
    popq    %r9
    popq    %r8
    popq    %rdi
    popq    %rsi
    popq    %rdx
    popq    %rcx
    popq    %rax
    popfq
    ret     $128
    .cfi_endproc
    .size   gort__async_preempt, .-gort__async_preempt

    .section .note.GNU-stack,"",@progbits
