-- expand, step 2 of 2: fails halfway (the first statement runs, the second divides by zero).
UPDATE orders SET priority = priority + 1;
UPDATE orders SET priority = priority / (id - id);
