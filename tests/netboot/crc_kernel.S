/*
 * A tiny multiboot (v1) kernel for the netboot test.
 *
 * iPXE loads it with the images it fetched before as multiboot modules. For
 * every module the kernel prints one line on COM1:
 *
 *   NBK MOD size=00400141 crc32=1c291ca3 name=tftp://10.0.2.2:9169/payload.bin
 *
 * (size and CRC-32 in hex, CRC-32 as in zlib/PNG), then "NBK END" and leaves
 * QEMU through isa-debug-exit (iobase 0xf4) with value 0x10, which QEMU turns
 * into exit status 0x21. The host computes the same CRC-32 over the file it
 * served, so a match proves that every byte arrived.
 *
 * Build (netboot_cases.ts does this):
 *   as --32 -o k.o crc_kernel.S
 *   ld -m elf_i386 -n -Ttext 0x100000 -e _start -o crc_kernel.elf k.o
 */

        .set MB_MAGIC, 0x1BADB002
        .set MB_FLAGS, 0
        .set MB_BOOTED, 0x2BADB002
        .set COM1, 0x3f8
        .set EXIT_PORT, 0xf4
        .set CRC_POLY, 0xEDB88320

        .text
        .code32
        .globl _start

        .align 4
multiboot_header:
        .long MB_MAGIC
        .long MB_FLAGS
        .long -(MB_MAGIC + MB_FLAGS)

_start:
        cli
        movl $stack_top, %esp
        movl %ebx, %ebp                 /* multiboot info */
        cmpl $MB_BOOTED, %eax
        je 1f
        movl $msg_badmagic, %esi
        call puts
        movb $0x11, %al
        jmp leave_qemu
1:
        movl $msg_start, %esi
        call puts
        xorl %ecx, %ecx                 /* module count */
        testl $8, (%ebp)                /* flags bit 3: mods_* valid */
        jz 2f
        movl 20(%ebp), %ecx
2:
        movl %ecx, %eax
        call put_hex
        movl $msg_crlf, %esi
        call puts
        testl %ecx, %ecx
        jz done
        movl 24(%ebp), %ebx             /* first module entry */
next_module:
        pushl %ecx
        movl $msg_mod, %esi
        call puts
        movl 4(%ebx), %eax
        subl (%ebx), %eax               /* size = mod_end - mod_start */
        call put_hex
        movl $msg_crc, %esi
        call puts
        movl (%ebx), %esi
        movl 4(%ebx), %edi
        call crc32
        call put_hex
        movl $msg_name, %esi
        call puts
        movl 8(%ebx), %esi              /* module command line */
        testl %esi, %esi
        jz 3f
        call puts
3:
        movl $msg_crlf, %esi
        call puts
        addl $16, %ebx
        popl %ecx
        loop next_module
done:
        movl $msg_end, %esi
        call puts
        movb $0x10, %al
leave_qemu:
        outb %al, $EXIT_PORT
halt:
        hlt
        jmp halt

/* CRC-32 of bytes [%esi, %edi) -> %eax. Clobbers %ecx, %edx, %esi. */
crc32:
        movl $0xffffffff, %eax
1:
        cmpl %edi, %esi
        jae 4f
        movzbl (%esi), %edx
        xorl %edx, %eax
        incl %esi
        movl $8, %ecx
2:
        shrl $1, %eax
        jnc 3f
        xorl $CRC_POLY, %eax
3:
        decl %ecx
        jnz 2b
        jmp 1b
4:
        notl %eax
        ret

/* Prints the NUL-terminated string at %esi. Clobbers %esi. */
puts:
        pushl %eax
1:
        movb (%esi), %al
        testb %al, %al
        jz 2f
        call putc
        incl %esi
        jmp 1b
2:
        popl %eax
        ret

/* Prints %eax as 8 lowercase hex digits. */
put_hex:
        pushl %eax
        pushl %ecx
        pushl %edx
        movl %eax, %edx
        movl $8, %ecx
1:
        roll $4, %edx
        movl %edx, %eax
        andl $0xf, %eax
        movb hex_digits(%eax), %al
        call putc
        decl %ecx
        jnz 1b
        popl %edx
        popl %ecx
        popl %eax
        ret

/* Writes %al to COM1 once the transmitter is ready. */
putc:
        pushl %edx
        pushl %eax
        movw $COM1 + 5, %dx
1:
        inb %dx, %al
        testb $0x20, %al
        jz 1b
        popl %eax
        movw $COM1, %dx
        outb %al, %dx
        popl %edx
        ret

        /* Data and stack stay in .text: one read-execute segment, no
         * paging, so the CPU lets the kernel write its stack there. */
        .align 4
hex_digits:     .ascii "0123456789abcdef"
msg_badmagic:   .asciz "\r\nNBK BAD-MAGIC\r\n"
msg_start:      .asciz "\r\nNBK START mods="
msg_mod:        .asciz "NBK MOD size="
msg_crc:        .asciz " crc32="
msg_name:       .asciz " name="
msg_crlf:       .asciz "\r\n"
msg_end:        .asciz "NBK END\r\n"

        .align 16
stack:  .space 4096
stack_top:
