/* The smallest C firmware of the size comparison: the same startup, newlib and semihosting as
 * the tests, printing an integer and a float like they do (so that newlib's printf with
 * floating point is linked here too), without embedgrad. */
#include <stdio.h>

int main(void)
{
    volatile float x = 1.5f;
    volatile int n = 42;
    printf("a C firmware without embedgrad: %d %.3f\n", n, (double)x);
    return 0;
}
