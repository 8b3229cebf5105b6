/*
 * ctx_aarch64.S — goroutine context switch for AArch64 (AAPCS64).
 *
 * Saves the callee-saved registers x19-x28, the frame pointer x29, the link
 * register x30, the low halves d8-d15 of v8-v15 and FPCR on the stack being
 * left, stores sp, installs the other stack and restores the same frame.
 *
 * Frame layout (176 bytes, sp stays 16-byte aligned):
 *     0: x19 x20   16: x21 x22   32: x23 x24   48: x25 x26   64: x27 x28
 *    80: x29 x30   96: d8 d9    112: d10 d11  128: d12 d13  144: d14 d15
 *   160: fpcr     168: padding
 * A fresh context (gort__ctx_make in ctx.h) has x19 = entry function,
 * x20 = arg, x29 = 0 and x30 = gort__ctx_entry.
 */
    /* gort_core: the engine's own code, never preempted (see internal.h). */
    .section gort_core,"ax",%progbits

/* void gort__ctx_switch(void **save_sp, void *load_sp) */
    .globl  gort__ctx_switch
    .hidden gort__ctx_switch
    .type   gort__ctx_switch, %function
    .p2align 4
gort__ctx_switch:
    .cfi_startproc
    sub     sp, sp, #176
    stp     x19, x20, [sp, #0]
    stp     x21, x22, [sp, #16]
    stp     x23, x24, [sp, #32]
    stp     x25, x26, [sp, #48]
    stp     x27, x28, [sp, #64]
    stp     x29, x30, [sp, #80]
    stp     d8, d9, [sp, #96]
    stp     d10, d11, [sp, #112]
    stp     d12, d13, [sp, #128]
    stp     d14, d15, [sp, #144]
    mrs     x9, fpcr
    str     x9, [sp, #160]
    mov     x9, sp
    str     x9, [x0]
    mov     sp, x1
    ldr     x9, [sp, #160]
    msr     fpcr, x9
    ldp     x19, x20, [sp, #0]
    ldp     x21, x22, [sp, #16]
    ldp     x23, x24, [sp, #32]
    ldp     x25, x26, [sp, #48]
    ldp     x27, x28, [sp, #64]
    ldp     x29, x30, [sp, #80]
    ldp     d8, d9, [sp, #96]
    ldp     d10, d11, [sp, #112]
    ldp     d12, d13, [sp, #128]
    ldp     d14, d15, [sp, #144]
    add     sp, sp, #176
    ret
    .cfi_endproc
    .size   gort__ctx_switch, .-gort__ctx_switch

    .globl  gort__ctx_entry
    .hidden gort__ctx_entry
    .type   gort__ctx_entry, %function
    .p2align 4
gort__ctx_entry:
    .cfi_startproc
    .cfi_undefined x30
    mov     x0, x20
    blr     x19
    brk     #0
    .cfi_endproc
    .size   gort__ctx_entry, .-gort__ctx_entry

    .section .note.GNU-stack,"",@progbits
