; dot product of a[0..63] (memory 0..63) and b[0..63] (memory 64..127)
; a plain loop: the sum lives in memory 200, the index i in memory 201

        PUSH 0
        STORE 200       ; sum = 0
        PUSH 0
        STORE 201       ; i = 0
loop:   LOAD 201
        LOADI           ; a[i]
        LOAD 201
        PUSH 64
        ADD
        LOADI           ; b[i]
        MUL
        LOAD 200
        ADD
        STORE 200       ; sum += a[i] * b[i]
        LOAD 201
        PUSH 1
        ADD
        DUP
        STORE 201       ; i += 1
        PUSH 64
        SUB
        JNZ loop        ; until i == 64
        LOAD 200
        HALT
