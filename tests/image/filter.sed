# Fields that change from run to run.
s/"elapsed_s":[0-9.e+-]*/"elapsed_s":ELAPSED/
/"phase_s":{/,/}/s/":[0-9][0-9.e+-]*/":SECONDS/
